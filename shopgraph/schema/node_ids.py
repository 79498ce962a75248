"""Relay global ids, and the ids from before them.

Every `id` of a User, Product or Order is a Relay global id: strawberry's
GlobalID, base64 of `<Type>:<stored id>`, so it says which type it is and is
unique across types. Every argument that takes an id also takes the stored id
alone, as ids were before (`customer1`, `mug`, an order's opaque id): clients,
links and other subgraphs that kept them go on working.
"""

from __future__ import annotations

from strawberry.relay import GlobalID
from strawberry.relay.types import GlobalIDValueError

from shopgraph.errors import BadUserInput

NODE_TYPES = frozenset({"User", "Product", "Order"})


def global_id(type_name: str, stored_id: str) -> str:
    return str(GlobalID(type_name=type_name, node_id=stored_id))


def stored_id(value: object, type_name: str, what: str) -> str:
    """The stored id behind `value`: a global id of `type_name`, or a stored id
    as it was sent before global ids (one never decodes to a node type)."""
    if not isinstance(value, str):
        raise BadUserInput(f"Invalid {what}")
    try:
        parsed = GlobalID.from_id(value)
    except (GlobalIDValueError, ValueError):
        return value
    if parsed.type_name not in NODE_TYPES:
        return value
    if parsed.type_name != type_name:
        raise BadUserInput(f"Invalid {what}: this is the id of a {parsed.type_name}")
    return parsed.node_id
