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


def sha256_document_id(value: str) -> str | None:
    """The sha256 a documentId names, or None for any other kind of id (GraphQL
    over HTTP also allows custom ids and other prefixes; none name a document here)."""
    digest = document_id(value)
    if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
        return digest
    return None


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
            name = operation.get("name")
            named = f" ({name})" if isinstance(name, str) else ""
            pairs.append((operation.get("id"), operation.get("body"), f"operations[{n}]{named}"))
    elif isinstance(raw, dict) and "format" not in raw:
        pairs = [(key, value, f"entry {key!r}") for key, value in raw.items()]
    else:
        raise ManifestError(
            f"{path}: neither an {APOLLO_FORMAT} nor a map of sha256 hashes to documents"
        )
    entries: dict[str, str] = {}
    for digest, body, where in pairs:
        if not isinstance(digest, str) or not isinstance(body, str):
            raise ManifestError(f"{path}: {where}: needs a string id and body")
        if sha256(body) != document_id(digest):
            hint = ""
            if hashlib.sha1(body.encode()).hexdigest() == digest.lower():
                # GraphQL Codegen's client preset hashes with sha1 unless told otherwise.
                hint = " (it is its sha1: set persistedDocuments.hashAlgorithm to 'sha256')"
            raise ManifestError(f"{path}: {where}: its id is not the sha256 of its body{hint}")
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


def _fragments_used(node: Any, fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """The fragments an operation spreads, and those they spread."""
    found: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: Any, *_: Any) -> None:
            name = spread.name.value
            if name not in found and name in fragments:
                found.append(name)
                visit(fragments[name], self)

    visit(node, Spreads())
    return found


def _definitions(path: Path) -> Any:
    try:
        return parse(path.read_text()).definitions
    except GraphQLSyntaxError as exc:
        raise ManifestError(f"{path}: {exc.message}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot be read ({exc})") from None


def build_manifest(files: Iterable[Path], schema: GraphQLSchema) -> dict[str, Any]:
    """An Apollo persisted query manifest of the named operations in files, sorted
    by name. As Apollo's generator does, a fragment defined in any file may be
    used by an operation in any other; each body is the operation and the
    fragments it uses, checked against schema."""
    operations: dict[str, tuple[Path, OperationDefinitionNode]] = {}
    fragments: dict[str, tuple[Path, FragmentDefinitionNode]] = {}
    for path in sorted(files):
        for definition in _definitions(path):
            if isinstance(definition, FragmentDefinitionNode):
                name = definition.name.value
                if name in fragments:
                    raise ManifestError(
                        f"{path}: fragment {name} is defined in {fragments[name][0]} too"
                    )
                fragments[name] = (path, definition)
            elif isinstance(definition, OperationDefinitionNode):
                if definition.name is None:
                    raise ManifestError(
                        f"{path}: an anonymous {definition.operation.value}: every operation "
                        "in a manifest needs a name (clients send it by name)"
                    )
                name = definition.name.value
                if name in operations:
                    raise ManifestError(
                        f"{path}: operation {name} is defined in {operations[name][0]} too"
                    )
                operations[name] = (path, definition)
            else:
                kind = definition.kind.replace("_", " ")
                raise ManifestError(
                    f"{path}: only operations and fragments belong here, not {kind}s"
                )
    defined = {name: node for name, (_, node) in fragments.items()}
    entries = []
    for name in sorted(operations):
        path, operation = operations[name]
        # As Apollo's generator prints it (sortTopLevelDefinitions): the
        # operation, then its fragments sorted by name, so the ids agree.
        used = [defined[f] for f in sorted(_fragments_used(operation, defined))]
        document = DocumentNode(definitions=(operation, *used))
        errors = validate(schema, document)
        if errors:
            raise ManifestError(f"{path}: {name}: {errors[0].message}")
        body = print_ast(document)
        entries.append(
            {"id": sha256(body), "name": name, "type": operation.operation.value, "body": body}
        )
    return {"format": APOLLO_FORMAT, "version": 1, "operations": entries}
