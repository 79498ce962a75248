"""Every entity's keys, declared once.

A `Template` such as ``"USER#{user_id}"`` builds a key attribute from named
parts and parses it back. Parts are checked before any key is built: ids must be
1-64 characters of ``[A-Za-z0-9_-]``, and no part may hold the ``#`` separator,
which would let one entity's input reach into another entity's keys.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from dataclasses import dataclass

from shopgraph.errors import BadUserInput

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SEPARATOR = "#"

# Parts named here are ids and follow ID_PATTERN; other parts (emails,
# timestamps, statuses, categories) are validated where they enter the system,
# and only need to be free of the separator.
ID_PARTS = frozenset({"user_id", "product_id", "number"})


def validate_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise BadUserInput(f"Invalid {what}: ids are 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return value


@dataclass(frozen=True)
class Template:
    pattern: str

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.pattern) if f)

    def build(self, **parts: object) -> str:
        for name in self.fields:
            value = str(parts[name])
            if name in ID_PARTS:
                validate_id(value, name.replace("_", " "))
            elif not value or SEPARATOR in value:
                raise BadUserInput(f"Invalid {name.replace('_', ' ')}")
        return self.pattern.format(**parts)

    def prefix(self, **parts: object) -> str:
        """The constant text before the first part not given (for begins_with)."""
        out = ""
        for literal, name, _, _ in string.Formatter().parse(self.pattern):
            out += literal
            if not name:
                continue
            if name not in parts:
                return out
            out += str(parts[name])
        return out

    def parse(self, value: str) -> dict[str, str]:
        regex = "^" + re.escape(self.pattern) + "$"
        for name in self.fields:
            regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^#]*)", 1)
        # The last part of an order sort key may not hold '#', the rest can't either.
        match = re.match(regex, value)
        if not match:
            raise ValueError(f"{value!r} does not match {self.pattern!r}")
        return match.groupdict()


@dataclass(frozen=True)
class EntityKeys:
    """The key templates of one entity: table keys and any index keys."""

    entity: str
    pk: Template
    sk: Template
    gsi1pk: Template | None = None
    gsi1sk: Template | None = None
    gsi2pk: Template | None = None
    gsi2sk: Template | None = None
    # The LSI1 sort key is a Number copied from an attribute, not a template.
    lsi1sk_from: str | None = None

    def key(self, **parts: object) -> dict[str, str]:
        return {"PK": self.pk.build(**parts), "SK": self.sk.build(**parts)}

    def gsi1(self, **parts: object) -> dict[str, str]:
        assert self.gsi1pk and self.gsi1sk
        return {"GSI1PK": self.gsi1pk.build(**parts), "GSI1SK": self.gsi1sk.build(**parts)}

    def gsi2(self, **parts: object) -> dict[str, str]:
        assert self.gsi2pk and self.gsi2sk
        return {"GSI2PK": self.gsi2pk.build(**parts), "GSI2SK": self.gsi2sk.build(**parts)}


USER = EntityKeys(
    "User",
    pk=Template("USER#{user_id}"),
    sk=Template("PROFILE"),
    gsi1pk=Template("USER#{email}"),
    gsi1sk=Template("PROFILE"),
)
EMAIL_GUARD = EntityKeys("EmailGuard", pk=Template("EMAIL#{email}"), sk=Template("EMAIL"))
ORDER = EntityKeys(
    "Order",
    pk=Template("USER#{user_id}"),
    sk=Template("ORDER#{created_at}#{number}"),
    gsi1pk=Template("STATUS#{status}#{shard}"),
    gsi1sk=Template("ORDER#{created_at}#{number}"),
    gsi2pk=Template("FLAGGED"),
    gsi2sk=Template("{flagged_at}#{number}"),
    lsi1sk_from="total",
)
ORDER_LINE = EntityKeys(
    "OrderLine", pk=Template("ORDER#{number}"), sk=Template("ITEM#{product_id}")
)
PRODUCT = EntityKeys(
    "Product",
    pk=Template("PRODUCT#{product_id}"),
    sk=Template("METADATA"),
    gsi1pk=Template("CAT#{category}"),
    gsi1sk=Template("PRODUCT#{product_id}"),
)
VIEW_COUNTER = EntityKeys(
    "ViewCounter", pk=Template("PRODUCT#{product_id}"), sk=Template("VIEWS#{shard}")
)
SESSION = EntityKeys("Session", pk=Template("SESSION#{token_hash}"), sk=Template("METADATA"))
IDEMPOTENCY = EntityKeys(
    "IdempotencyRecord", pk=Template("IDEMPOTENCY#{user_id}#{key}"), sk=Template("{operation}")
)
SALES_STATS = EntityKeys("SalesStats", pk=Template("STATS#{day}"), sk=Template("SALES"))
# The stream consumer's position per shard, and the records whose effect it applied.
STREAM_CHECKPOINT = EntityKeys(
    "StreamCheckpoint", pk=Template("STREAM#{consumer}"), sk=Template("SHARD#{shard_id}")
)
APPLIED_EVENT = EntityKeys(
    "AppliedEvent", pk=Template("EVENT#{event_id}"), sk=Template("{consumer}")
)

ALL_ENTITIES = (
    USER,
    EMAIL_GUARD,
    ORDER,
    ORDER_LINE,
    PRODUCT,
    VIEW_COUNTER,
    SESSION,
    IDEMPOTENCY,
    SALES_STATS,
    STREAM_CHECKPOINT,
    APPLIED_EVENT,
)


def key_table_markdown() -> str:
    """The README's key table, written from the templates themselves."""

    def cell(template: Template | None) -> str:
        return f"`{template.pattern}`".replace("{", "<").replace("}", ">") if template else ""

    rows = [
        "| entity | PK | SK | GSI1PK | GSI1SK | GSI2PK | GSI2SK | LSI1SK |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in ALL_ENTITIES:
        lsi = f"`{e.lsi1sk_from}` (N)" if e.lsi1sk_from else ""
        cells = [e.pk, e.sk, e.gsi1pk, e.gsi1sk, e.gsi2pk, e.gsi2sk]
        rows.append(f"| {e.entity} | " + " | ".join(map(cell, cells)) + f" | {lsi} |")
    return "\n".join(rows) + "\n"


# Sort-key ranges used by listings: every order sort key lies in ORDER_SK_RANGE.
ORDER_SK_PREFIX = ORDER.sk.prefix()
ORDER_SK_UPPER = ORDER_SK_PREFIX + "~"  # '~' sorts after every character of a timestamp
VIEWS_SK_PREFIX = VIEW_COUNTER.sk.prefix()


# An order's public id encodes its whole key (owner, creation instant, number),
# so `order(id:)` is one read without an index.
@dataclass(frozen=True)
class OrderRef:
    user_id: str
    created_at: str
    number: str

    def encode(self) -> str:
        raw = f"{self.user_id}|{self.created_at}|{self.number}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, order_id: str) -> OrderRef:
        from shopgraph.data.timefmt import is_timestamp

        if not isinstance(order_id, str) or not 1 <= len(order_id) <= 200:
            raise BadUserInput("Invalid order id")
        try:
            raw = base64.urlsafe_b64decode(order_id + "=" * (-len(order_id) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise BadUserInput("Invalid order id") from exc
        parts = raw.split("|")
        if len(parts) != 3 or not is_timestamp(parts[1]):
            raise BadUserInput("Invalid order id")
        user_id, created_at, number = parts
        if not ID_PATTERN.match(user_id) or not ID_PATTERN.match(number):
            raise BadUserInput("Invalid order id")
        return cls(user_id, created_at, number)

    @property
    def key(self) -> dict[str, str]:
        return ORDER.key(user_id=self.user_id, created_at=self.created_at, number=self.number)
