"""Every setting, read from the environment once, in one place."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Literal, cast, get_args

log = logging.getLogger(__name__)

# Which engine `serve` starts when no endpoint is set (shopgraph.engine starts it).
EmbeddedEngine = Literal["auto", "dynamodb-local", "moto"]
EMBEDDED_ENGINES: tuple[EmbeddedEngine, ...] = get_args(EmbeddedEngine)


def _int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, got {value}")
    return value


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number of seconds, got {raw!r}") from exc
    if not value > 0:
        raise SystemExit(f"{name} must be more than 0 seconds, got {raw!r}")
    return value


def _networks(env: dict[str, str], name: str) -> tuple[str, ...]:
    """Addresses or networks (CIDR), checked here so that a typo fails at start."""
    entries = _list(env, name)
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise SystemExit(f"{name}: {entry!r} is not an address or network") from exc
    return tuple(entries)


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise SystemExit(f"{name} must be on or off, got {raw!r}")


def _list(env: dict[str, str], name: str, *, lower: bool = False) -> list[str]:
    """A comma-separated setting's entries, trimmed, without empty ones."""
    entries = (e.strip() for e in env.get(name, "").split(","))
    return [e.lower() if lower else e for e in entries if e]


@dataclass(frozen=True)
class Settings:
    table_name: str = "shopgraph"
    # None: start the embedded engine.
    endpoint_url: str | None = None
    # Which embedded engine: auto (DynamoDB Local where java is, else moto),
    # dynamodb-local or moto.
    embedded_engine: EmbeddedEngine = "auto"
    # Where the embedded DynamoDB Local keeps its data; None: in memory.
    data_dir: Path | None = None
    region: str = "us-east-1"
    host: str = "127.0.0.1"
    port: int = 8000
    # Serve processes on the port (`serve --workers`); more than one needs Redis.
    workers: int = 1
    admin_emails: frozenset[str] = frozenset()
    session_ttl_seconds: int = 86400
    # Guessing: failed log-ins per email, and failed log-ins plus sign-ups per
    # client address, allowed in each window; then TOO_MANY_ATTEMPTS.
    login_max_failures: int = 10
    address_max_attempts: int = 100
    attempt_window_seconds: int = 900
    # Proxies (addresses or networks) whose X-Forwarded-For names the client.
    trusted_proxies: tuple[str, ...] = ()
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # False: `secret` is random for this process (SHOPGRAPH_SECRET unset).
    secret_configured: bool = True
    status_shards: int = 4
    view_shards: int = 4
    demo_password: str = "shopgraph-demo"
    read_unit_price: Decimal = Decimal("0.25") / 1_000_000
    write_unit_price: Decimal = Decimal("1.25") / 1_000_000
    # None: the DynamoDB endpoint (local engines serve both on one port).
    streams_endpoint_url: str | None = None
    # Whether `serve` reads the table's stream (subscriptions, salesStats).
    stream_consumer: bool = True
    # Changes a subscriber may fall behind before it is dropped.
    subscriber_queue: int = 100
    # Past changes a resuming subscriber (`after:`) may be sent before it is
    # told to start afresh; also what a process without Redis keeps for that.
    subscription_replay: int = 10_000
    # Where change events travel between stream workers and serve processes
    # (Redis Streams); None: one process reads the table's stream itself.
    redis_url: str | None = None
    # The Redis stream of change events; None: shopgraph:<table>:changes.
    redis_stream: str | None = None
    # About how many events the Redis stream keeps (XADD MAXLEN ~): how far
    # back a serve process or a subscriber can catch up.
    redis_stream_maxlen: int = 100_000
    # A stream worker's lease on a shard: renewed every third of this; another
    # worker takes a shard over once its lease has gone this long unrenewed.
    stream_lease_seconds: float = 10.0
    # What one GraphQL document may ask for.
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    # What one operation may cost, in DynamoDB capacity units reckoned from its
    # shape before it runs (README: the query cost limit); admins may go higher.
    max_query_cost: int = 1000
    admin_max_query_cost: int = 20000
    introspection: bool = True
    # OpenTelemetry spans for each operation, resolver and DynamoDB-backed
    # field, sent to whatever tracer provider the deployment configured.
    tracing: bool = False
    # Browser origins allowed to call the API (CORS); empty: none.
    cors_origins: tuple[str, ...] = ()
    # Automatic persisted queries this process remembers.
    persisted_queries: int = 1000
    # A manifest of trusted documents (README: Trusted documents), and whether
    # only those may run.
    trusted_documents: Path | None = None
    trusted_only: bool = False
    # HTTP caching of public reads (README: HTTP caching): the most seconds a
    # shared cache may keep an answer (0: nothing is cacheable), and how many
    # answers' ETags this process keeps to answer If-None-Match with a 304.
    http_cache_max_age: int = 5
    http_cache_entries: int = 1000
    # GraphiQL's npm packages (a node_modules folder); None: graphiql/node_modules
    # beside the source tree.
    graphiql_assets: Path | None = None
    max_pool_connections: int = 64
    # Tries of one DynamoDB call (botocore's standard retries, backoff with jitter).
    dynamodb_max_attempts: int = 5
    # Per attempt: a stopped engine refuses at once; a stalled one is given up on.
    dynamodb_connect_timeout: float = 1.0
    dynamodb_read_timeout: float = 3.0
    # What one GraphQL request may take, from its arrival (a wait for a slot
    # included) to its last DynamoDB call, retries included; past it the
    # request answers UNAVAILABLE.
    request_deadline: float = 5.0
    # GraphQL requests run at once: an adaptive limit up to this many; up to
    # admission_queue more wait admission_queue_timeout for a slot, and the
    # rest are answered 503 OVERLOADED at once.
    max_in_flight: int = 64
    admission_queue: int = 1024
    admission_queue_timeout: float = 1.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from the environment; each default is the field's own, above."""
        env = dict(os.environ if env is None else env)
        d = cls()
        secret_text = env.get("SHOPGRAPH_SECRET")
        engine = (env.get("SHOPGRAPH_EMBEDDED_ENGINE") or d.embedded_engine).strip().lower()
        if engine not in EMBEDDED_ENGINES:
            raise SystemExit(
                f"SHOPGRAPH_EMBEDDED_ENGINE must be one of {', '.join(EMBEDDED_ENGINES)}, "
                f"got {engine!r}"
            )

        def price(name: str, default: Decimal) -> Decimal:
            raw = env.get(name)
            return Decimal(raw) / 1_000_000 if raw else default

        def path(name: str) -> Path | None:
            return Path(env[name]).expanduser() if env.get(name) else None

        settings = cls(
            table_name=env.get("SHOPGRAPH_TABLE") or d.table_name,
            endpoint_url=env.get("AWS_ENDPOINT_URL_DYNAMODB")
            or env.get("AWS_ENDPOINT_URL")
            or None,
            embedded_engine=cast(EmbeddedEngine, engine),
            data_dir=path("SHOPGRAPH_DATA_DIR"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or d.region,
            host=env.get("HOST") or d.host,
            port=_int(env, "PORT", d.port, minimum=0),
            workers=_int(env, "SHOPGRAPH_WORKERS", d.workers),
            admin_emails=frozenset(_list(env, "SHOPGRAPH_ADMIN_EMAILS", lower=True)),
            session_ttl_seconds=_int(env, "SHOPGRAPH_SESSION_TTL_SECONDS", d.session_ttl_seconds),
            login_max_failures=_int(env, "SHOPGRAPH_LOGIN_MAX_FAILURES", d.login_max_failures),
            address_max_attempts=_int(
                env, "SHOPGRAPH_ADDRESS_MAX_ATTEMPTS", d.address_max_attempts
            ),
            attempt_window_seconds=_int(
                env, "SHOPGRAPH_ATTEMPT_WINDOW_SECONDS", d.attempt_window_seconds
            ),
            trusted_proxies=_networks(env, "SHOPGRAPH_TRUSTED_PROXIES"),
            secret=secret_text.encode() if secret_text else d.secret,
            secret_configured=bool(secret_text),
            status_shards=_int(env, "SHOPGRAPH_STATUS_SHARDS", d.status_shards),
            view_shards=_int(env, "SHOPGRAPH_VIEW_SHARDS", d.view_shards),
            demo_password=env.get("SHOPGRAPH_DEMO_PASSWORD") or d.demo_password,
            read_unit_price=price("SHOPGRAPH_READ_UNIT_PRICE_PER_MILLION", d.read_unit_price),
            write_unit_price=price("SHOPGRAPH_WRITE_UNIT_PRICE_PER_MILLION", d.write_unit_price),
            streams_endpoint_url=env.get("AWS_ENDPOINT_URL_DYNAMODB_STREAMS") or None,
            stream_consumer=_flag(env, "SHOPGRAPH_STREAM_CONSUMER", d.stream_consumer),
            subscriber_queue=_int(env, "SHOPGRAPH_SUBSCRIBER_QUEUE", d.subscriber_queue),
            subscription_replay=_int(env, "SHOPGRAPH_SUBSCRIPTION_REPLAY", d.subscription_replay),
            redis_url=env.get("SHOPGRAPH_REDIS_URL") or None,
            redis_stream=env.get("SHOPGRAPH_REDIS_STREAM") or None,
            redis_stream_maxlen=_int(env, "SHOPGRAPH_REDIS_STREAM_MAXLEN", d.redis_stream_maxlen),
            stream_lease_seconds=_seconds(
                env, "SHOPGRAPH_STREAM_LEASE_SECONDS", d.stream_lease_seconds
            ),
            max_depth=_int(env, "SHOPGRAPH_MAX_DEPTH", d.max_depth),
            max_aliases=_int(env, "SHOPGRAPH_MAX_ALIASES", d.max_aliases),
            max_tokens=_int(env, "SHOPGRAPH_MAX_TOKENS", d.max_tokens),
            max_query_cost=_int(env, "SHOPGRAPH_MAX_QUERY_COST", d.max_query_cost),
            admin_max_query_cost=_int(
                env, "SHOPGRAPH_ADMIN_MAX_QUERY_COST", d.admin_max_query_cost
            ),
            introspection=_flag(env, "SHOPGRAPH_INTROSPECTION", d.introspection),
            persisted_queries=_int(env, "SHOPGRAPH_PERSISTED_QUERIES", d.persisted_queries),
            trusted_documents=path("SHOPGRAPH_TRUSTED_DOCUMENTS"),
            trusted_only=_flag(env, "SHOPGRAPH_TRUSTED_ONLY", d.trusted_only),
            http_cache_max_age=_int(
                env, "SHOPGRAPH_HTTP_CACHE_MAX_AGE", d.http_cache_max_age, minimum=0
            ),
            http_cache_entries=_int(
                env, "SHOPGRAPH_HTTP_CACHE_ENTRIES", d.http_cache_entries, minimum=0
            ),
            graphiql_assets=path("SHOPGRAPH_GRAPHIQL_ASSETS"),
            tracing=_flag(env, "SHOPGRAPH_TRACING", d.tracing),
            cors_origins=tuple(_list(env, "SHOPGRAPH_CORS_ORIGINS")),
            max_pool_connections=_int(
                env, "SHOPGRAPH_MAX_POOL_CONNECTIONS", d.max_pool_connections
            ),
            dynamodb_max_attempts=_int(
                env, "SHOPGRAPH_DYNAMODB_MAX_ATTEMPTS", d.dynamodb_max_attempts
            ),
            dynamodb_connect_timeout=_seconds(
                env, "SHOPGRAPH_DYNAMODB_CONNECT_TIMEOUT", d.dynamodb_connect_timeout
            ),
            dynamodb_read_timeout=_seconds(
                env, "SHOPGRAPH_DYNAMODB_READ_TIMEOUT", d.dynamodb_read_timeout
            ),
            request_deadline=_seconds(env, "SHOPGRAPH_REQUEST_DEADLINE", d.request_deadline),
            max_in_flight=_int(env, "SHOPGRAPH_MAX_IN_FLIGHT", d.max_in_flight),
            admission_queue=_int(env, "SHOPGRAPH_ADMISSION_QUEUE", d.admission_queue, minimum=0),
            admission_queue_timeout=_seconds(
                env, "SHOPGRAPH_ADMISSION_QUEUE_TIMEOUT", d.admission_queue_timeout
            ),
        )
        if settings.trusted_only and settings.trusted_documents is None:
            raise SystemExit(
                "SHOPGRAPH_TRUSTED_ONLY needs SHOPGRAPH_TRUSTED_DOCUMENTS, the manifest to trust"
            )
        if settings.admission_queue_timeout >= settings.request_deadline:
            # A request must have time left to run after waiting for a slot.
            raise SystemExit(
                "SHOPGRAPH_ADMISSION_QUEUE_TIMEOUT must be less than SHOPGRAPH_REQUEST_DEADLINE "
                f"({settings.admission_queue_timeout} >= {settings.request_deadline})"
            )
        return settings

    def warn_if_secret_is_random(self) -> None:
        """A random key matters only where cursors outlive the process: a real endpoint."""
        if not self.secret_configured:
            log.warning(
                "SHOPGRAPH_SECRET is not set: cursors are signed with a random per-process "
                "key and stop working on restart or on another instance"
            )

    @property
    def change_stream(self) -> str:
        """The Redis stream that carries this table's change events."""
        return self.redis_stream or f"shopgraph:{self.table_name}:changes"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
