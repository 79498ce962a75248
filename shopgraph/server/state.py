"""What the running server holds: settings, schema, one DynamoDB client."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import strawberry
from aiohttp import web

from shopgraph.data.paging import CursorCodec
from shopgraph.schema.trusted_documents import TrustedDocuments
from shopgraph.server.admission import Admission
from shopgraph.server.graphiql import GraphiQLPage
from shopgraph.server.http_cache import HttpCache
from shopgraph.server.metrics import Metrics
from shopgraph.server.persisted import PersistedQueries
from shopgraph.server.readiness import Readiness
from shopgraph.settings import Settings
from shopgraph.stream.broker import Broker
from shopgraph.stream.live import ChangeSource

REQUEST_ID = web.RequestKey("request_id", str)
# When the request arrived (the event loop's clock): its deadline counts from here.
ARRIVED = web.RequestKey("arrived", float)
# What a GraphQL request reports to the request log line (operation, cost).
SUMMARY = web.RequestKey("summary", dict)


@dataclass
class AppState:
    settings: Settings
    schema: strawberry.Schema
    cursors: CursorCodec
    graphiql: GraphiQLPage
    # Public reads' cache headers, and the ETags that answer If-None-Match.
    http_cache: HttpCache
    broker: Broker = field(default_factory=Broker)
    persisted: PersistedQueries = field(default_factory=PersistedQueries)
    # The manifest's documents, by sha256 (SHOPGRAPH_TRUSTED_DOCUMENTS); None: none.
    trusted: TrustedDocuments | None = None
    metrics: Metrics = field(default_factory=Metrics)
    admission: Admission = field(default_factory=Admission)
    client: Any = None  # the aiobotocore DynamoDB client, opened at startup
    # Where subscribers' changes come from (the stream read here, or Redis).
    changes: ChangeSource | None = None
    readiness: Readiness | None = None  # what /readyz asks, opened at startup
    websockets: weakref.WeakSet[web.WebSocketResponse] = field(default_factory=weakref.WeakSet)
