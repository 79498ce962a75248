"""Trusted documents: the operations a team's clients were built with.

A manifest lists them by the sha256 of their text, in either of the formats
the client tools write: Apollo's persisted query manifest
(`{"format": "apollo-persisted-query-manifest", "version": 1, "operations":
[{"id", "name", "type", "body"}]}`) or GraphQL Codegen's client preset
(`{"<sha256>": "<document>"}`). A document in it can be sent by id alone;
with SHOPGRAPH_TRUSTED_ONLY, nothing else runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    parse,
    print_ast,
    validate,
)
from graphql.language import Visitor, visit
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from shopgraph.errors import OperationNotTrusted

APOLLO_FORMAT = "apollo-persisted-query-manifest"


class ManifestError(Exception):
    """A manifest that cannot be used: says which file and why."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def document_id(value: str) -> str:
    """A documentId as clients send it (`sha256:<hex>` or the bare hex), as the hex."""
    return value.removeprefix("sha256:").lower()


@dataclass(frozen=True)
class TrustedDocuments:
    by_hash: dict[str, str]

    def __contains__(self, digest: str) -> bool:
        return digest.lower() in self.by_hash

    def get(self, digest: str) -> str | None:
        return self.by_hash.get(digest.lower())

    def trusts(self, text: str) -> bool:
        return sha256(text) in self.by_hash

    @classmethod
    def load(cls, path: Path) -> TrustedDocuments:
        try:
            raw: Any = json.loads(path.read_text())
        except OSError as exc:
            raise ManifestError(f"{path}: cannot be read ({exc.strerror})") from None
        except ValueError as exc:
            raise ManifestError(f"{path}: not JSON ({exc})") from None
        return cls(_entries(path, raw))


def _entries(path: Path, raw: Any) -> dict[str, str]:
    if isinstance(raw, dict) and raw.get("format") == APOLLO_FORMAT:
        if raw.get("version") != 1:
            raise ManifestError(f"{path}: only version 1 of {APOLLO_FORMAT} is understood")
        operations = raw.get("operations")
        if not isinstance(operations, list):
            raise ManifestError(f"{path}: `operations` must be a list")
        pairs = []
        for n, operation in enumerate(operations):
            if not isinstance(operation, dict):
                raise ManifestError(f"{path}: operations[{n}] is not an object")
            pairs.append((operation.get("id"), operation.get("body"), f"operations[{n}]"))
    elif isinstance(raw, dict) and "format" not in raw:
        pairs = [(key, value, repr(key)) for key, value in raw.items()]
    else:
        raise ManifestError(
            f"{path}: neither an {APOLLO_FORMAT} nor a map of sha256 hashes to documents"
        )
    entries: dict[str, str] = {}
    for digest, body, where in pairs:
        if not isinstance(digest, str) or not isinstance(body, str):
            raise ManifestError(f"{path}: {where} needs a string id and body")
        if sha256(body) != document_id(digest):
            raise ManifestError(f"{path}: {where}'s id is not the sha256 of its body")
        entries[document_id(digest)] = body
    return entries


NOT_TRUSTED = (
    "This server runs only its trusted documents, and this is not one of them: "
    "send an operation from the manifest, by id or by its exact text"
)


class TrustedOnly(SchemaExtension):
    """Refuses any operation whose text is not trusted, before it runs. Over
    HTTP the persisted-query step refused it already, before parsing; this
    holds for websockets (subscriptions) too."""

    def __init__(self, documents: TrustedDocuments) -> None:
        self.documents = documents

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if execution.query is not None and not self.documents.trusts(execution.query):
            error = OperationNotTrusted(NOT_TRUSTED)
            refusal = GraphQLError(error.message, original_error=error)
            if execution.operation_type is OperationType.SUBSCRIPTION:
                raise refusal  # a subscription ignores a result set here; it reports this
            execution.result = ExecutionResult(data=None, errors=[refusal])
        yield


# --- writing a manifest ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str
    type: str
    body: str


def _fragments_used(node: Any, fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """The fragments an operation spreads, and those they spread, in first-use order."""
    found: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: Any, *_: Any) -> None:
            name = spread.name.value
            if name not in found and name in fragments:
                found.append(name)
                visit(fragments[name], self)

    visit(node, Spreads())
    return found


def operations_of(source: str, where: str, schema: GraphQLSchema) -> list[Operation]:
    """Each named operation of a document, with the fragments it uses, checked against schema."""
    try:
        document = parse(source)
    except GraphQLSyntaxError as exc:
        raise ManifestError(f"{where}: {exc.message}") from None
    errors = validate(schema, document)
    if errors:
        raise ManifestError(f"{where}: {errors[0].message}")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.name is None:
            raise ManifestError(f"{where}: every operation in a manifest needs a name")
        used = [fragments[name] for name in _fragments_used(definition, fragments)]
        body = print_ast(DocumentNode(definitions=(definition, *used)))
        operations.append(Operation(definition.name.value, definition.operation.value, body))
    return operations


def build_manifest(files: Iterable[Path], schema: GraphQLSchema) -> dict[str, Any]:
    """An Apollo persisted query manifest of the operations in files, sorted by name."""
    operations: list[Operation] = []
    for path in sorted(files):
        operations.extend(operations_of(path.read_text(), str(path), schema))
    names = [o.name for o in operations]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError(f"operation names must be unique: {', '.join(duplicates)}")
    return {
        "format": APOLLO_FORMAT,
        "version": 1,
        "operations": [
            {"id": sha256(o.body), "name": o.name, "type": o.type, "body": o.body}
            for o in sorted(operations, key=lambda o: o.name)
        ],
    }
