"""HTTP caching of public reads: the headers, and a bounded memory of recent
public answers' ETags, so that a conditional GET is answered 304 without
running the query (README: HTTP caching).

Publicly cacheable: a GET of a query (its text, or an APQ hash), with no
Authorization header and no request for a federated trace (an answer timed
for one request), whose every field has a public `@cacheControl` hint
(shopgraph/schema/cache_hints.py), answered without errors. It gets
`Cache-Control: public, max-age=N`, a strong ETag (a hash of the body's bytes)
and `Vary`. Everything else on /graphql gets `no-store`.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from aiohttp import web
from strawberry.http import GraphQLRequestData

from shopgraph.schema.cache_hints import CacheHints
from shopgraph.schema.federation_tracing import INCLUDE_TRACE_HEADER

NO_STORE = "no-store"
# What the answer depends on besides the URL: the media type (Accept) and the
# viewer (Authorization); with CORS, the Origin echoed back.
VARY = "Accept, Authorization"
VARY_WITH_CORS = "Accept, Authorization, Origin"


class Key(NamedTuple):
    """What makes two requests the same request."""

    query: str  # as sent, or as an APQ hash names it
    variables: bytes  # JSON, keys sorted
    operation_name: str | None
    media_type: str  # of the answer


@dataclass(frozen=True)
class Candidate:
    """A request whose answer may be shared, if it has no errors."""

    key: Key
    max_age: int


CANDIDATE = web.ResponseKey("http_cache_candidate", Candidate)


@dataclass(frozen=True)
class Entry:
    etag: str
    expires: float  # on the cache's clock


class NotModified(Exception):
    """Raised before execution: the client's copy is the current answer."""

    def __init__(self, etag: str, max_age: int) -> None:
        super().__init__(etag)
        self.etag = etag
        self.max_age = max_age


def etag_of(body: bytes, media_type: str) -> str:
    """A strong ETag: a hash of the body's exact bytes and of its media type
    (a strong tag names one representation, and the two media types carry the
    same bytes)."""
    digest = hashlib.sha256(media_type.encode() + b"\n" + body)
    return '"' + digest.hexdigest()[:32] + '"'


def matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match's comparison, which is the weak one (RFC 9110 13.1.2)."""
    tags = (t.strip() for t in if_none_match.split(","))
    return any(t == "*" or t.removeprefix("W/") == etag for t in tags)


def public_cache_control(max_age: int) -> str:
    return f"public, max-age={max_age}"


class HttpCache:
    def __init__(
        self,
        hints: CacheHints,
        *,
        max_age: int,
        max_entries: int,
        cors: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hints = hints
        self.max_age = max_age  # the ceiling over every hint; 0: nothing is cacheable
        self.max_entries = max_entries
        self.vary = VARY_WITH_CORS if cors else VARY
        self.clock = clock
        self._entries: OrderedDict[Key, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def consider(
        self,
        request: web.Request,
        sub_response: web.StreamResponse,
        request_data: GraphQLRequestData,
        media_type: str,
    ) -> None:
        """Before execution: raises NotModified where the client holds the
        current answer; else marks the response as one that may be shared."""
        if (
            request.method != "GET"
            or "Authorization" in request.headers
            or INCLUDE_TRACE_HEADER in request.headers
            or not self.max_age
        ):
            return
        query = request_data.query
        if not isinstance(query, str):
            return
        try:
            key = _key(query, request_data.variables, request_data.operation_name, media_type)
        except orjson.JSONEncodeError:
            return  # variables orjson cannot write back (an integer past 64 bits): not shared
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match:
            self._not_modified(key, if_none_match)
        max_age = min(self.hints.max_age(query, request_data.operation_name), self.max_age)
        if max_age > 0:
            sub_response[CANDIDATE] = Candidate(key, max_age)

    def _not_modified(self, key: Key, if_none_match: str) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        left = entry.expires - self.clock()
        if left <= 0:
            del self._entries[key]  # stale: the query runs again
            return
        if matches(if_none_match, entry.etag):
            self._entries.move_to_end(key)
            # What is left of the entry's life, so no cache keeps it past ours.
            raise NotModified(entry.etag, math.ceil(left))

    def store(self, response: web.Response, response_data: Any) -> None:
        """After execution: a candidate answered without errors is shared, and
        its ETag remembered for If-None-Match."""
        candidate = response.get(CANDIDATE)
        body = response.body
        if (
            candidate is None
            or response.status != 200
            or not isinstance(response_data, dict)
            or response_data.get("errors")
            or not isinstance(body, bytes)
        ):
            return
        etag = etag_of(body, candidate.key.media_type)
        response.headers["Cache-Control"] = public_cache_control(candidate.max_age)
        response.headers["ETag"] = etag
        if self.max_entries <= 0:
            return
        self._entries[candidate.key] = Entry(etag, self.clock() + candidate.max_age)
        self._entries.move_to_end(candidate.key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def not_modified_response(self, hit: NotModified) -> web.Response:
        response = web.Response(status=304)
        response.headers["Cache-Control"] = public_cache_control(hit.max_age)
        response.headers["ETag"] = hit.etag
        return response

    def finish(self, response: web.StreamResponse) -> web.StreamResponse:
        """Every /graphql answer says what it varies by; any not marked public
        may not be stored."""
        if response.prepared:
            return response  # a websocket, long since under way
        response.headers["Vary"] = self.vary
        response.headers.setdefault("Cache-Control", NO_STORE)
        return response


def _key(
    query: str, variables: dict[str, Any] | None, operation_name: str | None, media_type: str
) -> Key:
    # Sorted keys: the same variables in another order are the same request.
    written = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    return Key(query, written, operation_name or None, media_type)
