"""Instants as ISO-8601 UTC strings with milliseconds: string order is time order."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from shopgraph.errors import BadUserInput

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def format_instant(value: datetime) -> str:
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return format_instant(datetime.now(UTC))


def is_timestamp(value: str) -> bool:
    if not _TIMESTAMP.match(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


def parse_instant(value: str) -> datetime:
    """Any ISO-8601 instant with a zone (Z or an offset), as aware UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise BadUserInput("DateTime must be an ISO-8601 string such as 2026-03-15T10:00:00.000Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BadUserInput(
            f"Invalid DateTime {value!r}: expected ISO-8601 such as 2026-03-15T10:00:00.000Z"
        ) from exc
    if parsed.tzinfo is None:
        raise BadUserInput(f"Invalid DateTime {value!r}: a zone (Z or an offset) is required")
    return parsed.astimezone(UTC)


_DATE_PREFIX = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def validate_date_prefix(value: str, what: str) -> str:
    """YYYY, YYYY-MM or YYYY-MM-DD, checked against the calendar."""
    if not isinstance(value, str) or not _DATE_PREFIX.match(value):
        raise BadUserInput(f"Invalid {what} {value!r}: expected YYYY, YYYY-MM or YYYY-MM-DD")
    parts = [int(p) for p in value.split("-")]
    try:
        date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError as exc:
        raise BadUserInput(f"Invalid {what} {value!r}: no such date") from exc
    if parts[0] < 1:
        raise BadUserInput(f"Invalid {what} {value!r}")
    return value


def validate_day(value: str) -> str:
    if not isinstance(value, str) or len(value) != 10:
        raise BadUserInput(f"Invalid day {value!r}: expected YYYY-MM-DD")
    return validate_date_prefix(value, "day")
