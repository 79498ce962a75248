"""Plain Python values <-> DynamoDB attribute values, through boto3's own types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Item = dict[str, Any]


def to_attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Serializes a plain mapping, leaving out None (absent attributes)."""
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def to_attribute(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)


def from_attributes(item: Mapping[str, Any]) -> Item:
    # Most attributes are strings, which are what they hold: taking them as they
    # are skips the deserializer's per-value dispatch (a third of an item's cost).
    deserialize = _deserializer.deserialize
    return {k: v["S"] if "S" in v else deserialize(v) for k, v in item.items()}


def key_attributes(key: Mapping[str, str]) -> dict[str, Any]:
    """A table key (every key attribute is a string) as DynamoDB attribute values."""
    return {name: {"S": value} for name, value in key.items()}
