"""What the running server holds: settings, schema, one DynamoDB client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import strawberry
from aiohttp import web

from shopgraph.data.paging import CursorCodec
from shopgraph.settings import Settings


REQUEST_ID = web.RequestKey("request_id", str)


@dataclass
class AppState:
    settings: Settings
    schema: strawberry.Schema
    cursors: CursorCodec
    client: Any = None  # the aiobotocore DynamoDB client, opened at startup
