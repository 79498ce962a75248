"""Cache hints: Apollo's `@cacheControl` directive, and what an operation's
hints allow.

The hints live on the type declarations (`types.py`, `root.py`) and go out in
the exported SDL, named and shaped as Apollo's, so that tools that know that
directive read them. An operation is publicly cacheable only if every field it
selects carries a public hint; its max-age is the least of theirs. Stricter
than Apollo on purpose: a field without a hint (a scalar included) makes the
whole operation uncacheable, so a private field added later without a hint
can never leak into a shared cache.

A field's hint is its return type's `@cacheControl` (an object type), with the
field's own on top, as Apollo merges them. `inheritMaxAge: true` on a field
means "as cacheable as the field above me": for the generic Connection, Edge
and PageInfo, public under `productsByCategory`, not under `ordersByStatus`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    parse,
)
from graphql.execution.values import get_directive_values
from graphql.utilities import get_operation_ast
from strawberry.schema_directive import Location
from strawberry.types.unset import UNSET

# Where strawberry keeps, on each graphql-core definition, the definition it came from.
STRAWBERRY_DEFINITION = "strawberry-definition"
DIRECTIVE_NAME = "cacheControl"


@strawberry.enum(name="CacheControlScope")
class CacheControlScope(Enum):
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


@strawberry.schema_directive(
    name=DIRECTIVE_NAME,
    locations=[Location.FIELD_DEFINITION, Location.OBJECT],
    description="How long, and for whom, a field's value may be cached (as Apollo's "
    "`@cacheControl`). An operation is cacheable only if every field it selects has a hint.",
)
class CacheControl:
    # UNSET, not None: an argument left out is left out of the SDL too, as in
    # Apollo's own definition (no defaults).
    max_age: int | None = UNSET
    scope: CacheControlScope | None = UNSET
    inherit_max_age: bool | None = UNSET


def public(max_age: int) -> CacheControl:
    """A public hint: anyone may be given the same answer for max_age seconds."""
    return CacheControl(max_age=max_age)


INHERIT = CacheControl(inherit_max_age=True)


@dataclass(frozen=True)
class Hint:
    max_age: int | None = None
    scope: str | None = None
    inherit_max_age: bool = False

    def over(self, below: Hint | None) -> Hint:
        """This hint, with what it leaves unset taken from `below`; as Apollo,
        a field that inherits keeps its type's maxAge where the type has one."""
        if below is None:
            return self
        max_age = self.max_age if self.max_age is not None else below.max_age
        return Hint(
            max_age=max_age,
            scope=self.scope or below.scope,
            inherit_max_age=max_age is None and (self.inherit_max_age or below.inherit_max_age),
        )


def _from_directive(directive: CacheControl) -> Hint:
    max_age, scope, inherit = (
        None if value is UNSET else value
        for value in (directive.max_age, directive.scope, directive.inherit_max_age)
    )
    return Hint(max_age, scope.value if scope else None, bool(inherit))


def _hint_of(definition: Any, schema: GraphQLSchema) -> Hint | None:
    """The hint on a graphql-core field or object type: from strawberry's own
    definition (a code-first schema), else from the SDL it was built from."""
    source = (getattr(definition, "extensions", None) or {}).get(STRAWBERRY_DEFINITION)
    for directive in getattr(source, "directives", None) or ():
        if isinstance(directive, CacheControl):
            return _from_directive(directive)
    node = getattr(definition, "ast_node", None)
    directive_def = schema.get_directive(DIRECTIVE_NAME)
    if node is None or directive_def is None:
        return None
    values = get_directive_values(directive_def, node)
    if values is None:
        return None
    return Hint(values.get("maxAge"), values.get("scope"), bool(values.get("inheritMaxAge")))


class _NotCacheable(Exception):
    """Raised by the walk at the first field that rules the operation out."""


class _Walk:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.seen_fragments: set[str] = set()
        self.ages: list[int] = []

    def selections(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode, root: bool
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(parent, selection, root)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                self.selections(self._known(target), selection.selection_set, root)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in self.seen_fragments:
                    continue  # its fields were counted once; the least age stands
                self.seen_fragments.add(name)
                fragment = self.fragments.get(name)
                if fragment is None:
                    raise _NotCacheable(f"unknown fragment {name}")
                target = self.schema.get_type(fragment.type_condition.name.value)
                self.selections(self._known(target), fragment.selection_set, root)

    def field(self, parent: GraphQLNamedType, node: FieldNode, root: bool) -> None:
        name = node.name.value
        if name == "__typename":
            return  # the type's name: the same for everyone
        if name.startswith("__"):
            raise _NotCacheable("introspection")
        composite = isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType))
        definition: GraphQLField | None = parent.fields.get(name) if composite else None
        if definition is None:
            raise _NotCacheable(f"unknown field {parent.name}.{name}")
        returns = get_named_type(definition.type)
        type_hint = (
            _hint_of(returns, self.schema) if isinstance(returns, GraphQLObjectType) else None
        )
        field_hint = _hint_of(definition, self.schema)
        hint = field_hint.over(type_hint) if field_hint else type_hint
        if hint is None:
            raise _NotCacheable(f"{parent.name}.{name} has no cache hint")
        if hint.scope == CacheControlScope.PRIVATE.value:
            raise _NotCacheable(f"{parent.name}.{name} is private")
        if hint.max_age is not None:
            self.ages.append(hint.max_age)
        elif not hint.inherit_max_age or root:
            # A root field has nothing above it to inherit from.
            raise _NotCacheable(f"{parent.name}.{name} has no maxAge")
        if node.selection_set:
            self.selections(returns, node.selection_set, root=False)

    def _known(self, target: GraphQLNamedType | None) -> GraphQLNamedType:
        if target is None:
            raise _NotCacheable("unknown type condition")
        return target


def public_max_age(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None = None
) -> int:
    """Seconds the operation's answer may be shared for; 0: not publicly cacheable
    (a mutation or subscription, introspection, a field without a public hint)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY:
        return 0
    root = schema.query_type
    if root is None:
        return 0
    walk = _Walk(schema, document)
    try:
        walk.selections(root, operation.selection_set, root=True)
    except _NotCacheable:
        return 0
    return max(0, min(walk.ages, default=0))


class CacheHints:
    """public_max_age by query text and operation name, remembered for the
    texts seen last: a client repeats the same few queries."""

    def __init__(self, schema: GraphQLSchema, max_tokens: int | None = None, size: int = 256):
        self.schema = schema
        self.max_tokens = max_tokens
        self.max_age = functools.lru_cache(maxsize=size)(self._max_age)

    def _max_age(self, query: str, operation_name: str | None) -> int:
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            return 0  # execution reports the syntax error; an error is never cached
        return public_max_age(self.schema, document, operation_name)
