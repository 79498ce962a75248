"""JSON log lines, one object per line, for log pipelines to parse."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import orjson

# A record's structured fields, given as `extra={FIELDS: {...}}`: the formatter
# merges them as they are, without parsing the message back.
FIELDS = "fields"


class _FieldsMessage:
    """A record's message that is its fields' JSON, made only if a handler
    other than JsonFormatter (or a test reading the records) asks for it."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return _dumps(self.fields)


def log_fields(logger: logging.Logger, fields: dict[str, Any]) -> None:
    """One INFO line made of these fields."""
    logger.info(_FieldsMessage(fields), extra={FIELDS: fields})


def _dumps(entry: dict[str, Any]) -> str:
    try:
        return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (an int past 64 bits, say)
        return json.dumps(entry, default=str)


def _message_fields(message: str) -> dict[str, Any]:
    # A message that is itself a JSON object is merged in.
    if message.startswith("{"):
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {"message": message}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, FIELDS, None)
        entry.update(fields if isinstance(fields, dict) else _message_fields(record.getMessage()))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _dumps(entry)


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # aiohttp's own access log repeats what the request log line says.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # "Found credentials in ..." on every client: noise, and with a local
    # engine's dummy credentials a misleading one.
    for name in ("botocore.credentials", "aiobotocore.credentials"):
        logging.getLogger(name).setLevel(logging.WARNING)
