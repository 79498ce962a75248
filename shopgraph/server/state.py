"""What the running server holds: settings, schema, one DynamoDB client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import strawberry

from shopgraph.data.paging import CursorCodec
from shopgraph.settings import Settings


@dataclass
class AppState:
    settings: Settings
    schema: strawberry.Schema
    cursors: CursorCodec
    client: Any = None  # the aiobotocore DynamoDB client, opened at startup
