"""Automatic persisted queries, as Apollo's clients speak them.

A client sends only `extensions.persistedQuery.sha256Hash`; an unknown hash is
answered with PersistedQueryNotFound, and the client sends the query with its
hash once, which is checked and remembered (per process, in a bounded LRU; the
next process learns it the same way).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from graphql import GraphQLError

from shopgraph.schema.trusted_documents import NOT_TRUSTED, TrustedDocuments

NOT_FOUND = "PersistedQueryNotFound"


def requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The sha256 a request names in `extensions.persistedQuery`, lowercased."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError("Unsupported persisted query version", "BAD_USER_INPUT")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or len(digest) != 64:
        raise PersistedQueryError(
            "persistedQuery.sha256Hash must be 64 hex digits", "BAD_USER_INPUT"
        )
    return digest.lower()


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.error = GraphQLError(message, extensions={"code": code})


def unknown_document_id(value: str) -> PersistedQueryError:
    """A documentId of a kind this server does not keep documents by."""
    return PersistedQueryError(
        f"{NOT_FOUND}: documentId {value[:100]!r} is not a sha256 document id; documents "
        "here are sent as sha256:<64 hex digits> (or the bare hex)",
        "PERSISTED_QUERY_NOT_FOUND",
    )


class PersistedQueries:
    def __init__(self, max_entries: int = 1000) -> None:
        self.max_entries = max_entries
        self._queries: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._queries)

    def resolve(
        self,
        query: str | None,
        extensions: dict[str, Any] | None,
        trusted: TrustedDocuments | None = None,
        trusted_only: bool = False,
    ) -> str | None:
        """The query to run: the one sent, or the one its hash names (in the
        trusted documents first). With trusted_only, only those: nothing else
        is looked up or remembered."""
        digest = requested_hash(extensions)
        if digest is None:
            if trusted_only and query is not None and not (trusted and trusted.trusts(query)):
                raise PersistedQueryError(NOT_TRUSTED, "OPERATION_NOT_TRUSTED")
            return query
        if query is None:
            known = (trusted.get(digest) if trusted else None) or (
                None if trusted_only else self._queries.get(digest)
            )
            if known is None:
                raise PersistedQueryError(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND")
            if digest in self._queries:
                self._queries.move_to_end(digest)
            return known
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise PersistedQueryError("provided sha does not match query", "BAD_USER_INPUT")
        if trusted and digest in trusted:
            return query
        if trusted_only:
            # Registering a document is how untrusted ones would get in.
            raise PersistedQueryError(NOT_TRUSTED, "OPERATION_NOT_TRUSTED")
        self._queries[digest] = query
        self._queries.move_to_end(digest)
        while len(self._queries) > self.max_entries:
            self._queries.popitem(last=False)
        return query
