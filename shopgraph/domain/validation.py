"""Checks on text inputs, so no item comes near DynamoDB's 400 KB."""

from __future__ import annotations

import re
from decimal import Decimal

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


MAX_PRODUCT_NAME = 200
MAX_DESCRIPTION = 5000
MAX_PRICE = Decimal("1000000")
MAX_STOCK = 1_000_000_000


def check_product_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_PRODUCT_NAME:
        raise BadUserInput(f"name must be 1-{MAX_PRODUCT_NAME} characters")
    return name


def check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise BadUserInput(f"description must be at most {MAX_DESCRIPTION} characters")
    return description


def check_price(price: Decimal) -> Decimal:
    exponent = price.as_tuple().exponent
    if price < 0 or price > MAX_PRICE or not isinstance(exponent, int) or exponent < -2:
        raise BadUserInput(f"price must be 0-{MAX_PRICE} with at most 2 decimals")
    return price


def check_stock(stock: int | None) -> int | None:
    if stock is not None and not 0 <= stock <= MAX_STOCK:
        raise BadUserInput(f"stock must be 0-{MAX_STOCK}, or null for no stock tracking")
    return stock
