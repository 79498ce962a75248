"""Checks on text inputs, so no item comes near DynamoDB's 400 KB."""

from __future__ import annotations

import re

from shopgraph.errors import BadUserInput

MAX_EMAIL = 254
MAX_NAME = 100
MAX_CATEGORY = 64
MIN_PASSWORD = 8
MAX_PASSWORD = 256
_EMAIL = re.compile(r"^[^@\s#]+@[^@\s#]+\.[^@\s#]+$")
_CATEGORY = re.compile(r"^[^#\x00-\x1f]+$")


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise BadUserInput("Invalid email address")
    return email


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise BadUserInput(f"name must be 1-{MAX_NAME} characters")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BadUserInput(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise BadUserInput(f"password must be at most {MAX_PASSWORD} characters")
    return password


def check_category(category: str) -> str:
    if not 1 <= len(category) <= MAX_CATEGORY or not _CATEGORY.match(category):
        raise BadUserInput(f"category must be 1-{MAX_CATEGORY} characters without '#'")
    return category
