"""What every resolver of one request shares."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import User
from shopgraph.data.model import ID_PATTERN
from shopgraph.data.paging import CursorCodec
from shopgraph.resolvers.loaders import Loaders
from shopgraph.security import claimed_user_id, token_hash
from shopgraph.settings import Settings

MAX_TOKEN_LENGTH = 256
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


@functools.cache
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """The trusted proxies' networks, parsed once per setting, not per request."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def client_address(request: Any, trusted_proxies: tuple[Network, ...]) -> str | None:
    """Who is asking: the peer, or, where the peer is a trusted proxy, the
    nearest X-Forwarded-For hop that is not one (a client can put anything
    in the header; only what trusted proxies appended is believed)."""
    peer = getattr(request, "remote", None)
    if not peer or not _within(peer, trusted_proxies):
        return peer
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return token


@dataclass
class RequestContext:
    settings: Settings
    db: Dynamo
    cursors: CursorCodec
    request_id: str
    token: str | None = None
    request: Any = None
    response: Any = None
    broker: Any = None  # the process's stream.Broker, for subscriptions
    metrics: Any = None  # the process's server.metrics.Metrics
    # What the request log line reports: operation name, outcome, cost.
    summary: dict[str, Any] = field(default_factory=dict)
    # Set by strawberry from a websocket's connection_init payload.
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(init=False)
    _viewer: asyncio.Future[User | None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db, self.cursors, self.settings.view_shards)

    def fresh_loaders(self) -> None:
        """A websocket's context lives as long as the connection: each pushed
        event resolves with loaders of its own, not with what an earlier one cached."""
        self.loaders = Loaders(self.db, self.cursors, self.settings.view_shards)

    @functools.cached_property
    def client_address(self) -> str | None:
        return client_address(self.request, networks(self.settings.trusted_proxies))

    @property
    def token_hash(self) -> str | None:
        return token_hash(self.token) if self.token else None

    async def viewer(self) -> User | None:
        """The signed-in user, looked up once per request. An unknown, expired
        or ended token counts as no token."""
        self.look_up_viewer()
        assert self._viewer is not None
        return await asyncio.shield(self._viewer)

    def look_up_viewer(self) -> None:
        """Starts the viewer's lookup now, so that its reads join the batch
        of reads made in this same tick instead of going in one of their own."""
        if self._viewer is None:
            self._viewer = asyncio.ensure_future(self._load_viewer())

    def act_as(self, user: User | None, token: str | None) -> None:
        """After signing in, up or out, the rest of the request sees the new viewer."""
        self.token = token
        self._viewer = asyncio.get_running_loop().create_future()
        self._viewer.set_result(user)

    def bearer(self) -> str | None:
        """The request's session token: from the Authorization header, or
        from a websocket's connection_init payload."""
        if self.token is None and isinstance(self.connection_params, dict):
            authorization = self.connection_params.get(
                "Authorization"
            ) or self.connection_params.get("authorization")
            self.token = bearer_token(authorization if isinstance(authorization, str) else None)
        return self.token

    async def _load_viewer(self) -> User | None:
        token = self.bearer()
        if not token:
            return None
        hashed = token_hash(token)
        claimed = claimed_user_id(token)
        if claimed is None or not ID_PATTERN.match(claimed):
            # A token from before tokens named their user: the session says who.
            session = await self.loaders.sessions.load(hashed)
            return await self.loaders.users.load(session.user_id) if session else None
        # The session and the user it claims, in one batch; the user counts
        # only where the session names them too.
        session, user = await asyncio.gather(
            self.loaders.sessions.load(hashed), self.loaders.users.load(claimed)
        )
        return user if session is not None and session.user_id == claimed else None
