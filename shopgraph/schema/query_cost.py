"""What an operation will cost in DynamoDB capacity, reckoned from its shape
before it runs (Shopify's `requestedQueryCost`, counted in capacity units).

Each field has a rule (see cost_rules): the capacity units it reads or writes
for each parent object, and how many objects it holds (a list's length, a
page's `first`). Nesting multiplies: a field under 20 orders costs 20 times
its own units. The signed-in user's lookup is counted once per operation,
where a field needs it and the request carries a token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
    get_argument_values,
    get_directive_values,
    get_named_type,
    get_operation_ast,
    get_variable_values,
    parse,
)
from graphql.execution.values import VariableValues


@dataclass(frozen=True)
class FieldCost:
    """What one field costs under each parent object."""

    units: float = 0.0  # capacity units it reads or writes
    items: int = 1  # objects it holds: a list's length
    page: int | None = None  # a connection: the nodes (and edges) it holds
    viewer: bool = False  # it looks up the signed-in user


FREE = FieldCost()
Rule = Callable[[Mapping[str, Any]], FieldCost]
Rules = Mapping[str, Rule]  # by "Type.field"
# The fields of a connection that hold its page.
PAGE_FIELDS = frozenset({"nodes", "edges"})


@dataclass(frozen=True)
class Requested:
    units: float  # what the fields read and write
    viewer: bool  # whether some field looks up the signed-in user

    def total(self, viewer_units: float, has_token: bool) -> float:
        return self.units + (viewer_units if self.viewer and has_token else 0.0)


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    rules: Rules,
) -> Requested | None:
    """The operation's cost, or None where it cannot run (no such operation,
    variables that do not coerce): execution then reports why, calling nothing."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    coerced = get_variable_values(
        schema, operation.variable_definitions or (), dict(variables or {})
    )
    if isinstance(coerced, list):
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(schema, fragments, coerced, rules)
    units, viewer = walk.selection_set(operation.selection_set, root, None)
    return Requested(units, viewer)


# Operations longer than this (text and variables) are reckoned each time.
MAX_REMEMBERED_BYTES = 16 * 1024


class RequestedCosts:
    """requested_cost, remembered by query text, operation and variables, on
    which alone it depends: clients send the same few operations again and
    again, and coercing the variables and walking the rules cost a small page
    about a twentieth of its CPU. The least recently used go first, as in
    CacheHints."""

    def __init__(self, rules: Rules, maxsize: int = 512) -> None:
        self.rules = rules
        self._remembered = functools.lru_cache(maxsize=maxsize)(self._reckon)

    def __len__(self) -> int:
        return self._remembered.cache_info().currsize

    def of(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        query: str | None,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> Requested | None:
        """The cost of `document`, which is `query` parsed."""
        key = _operation_key(query, operation_name, variables)
        if key is None:
            return requested_cost(schema, document, operation_name, variables, self.rules)
        return self._remembered(schema, *key)

    def _reckon(
        self, schema: GraphQLSchema, query: str, operation_name: str | None, variables: bytes
    ) -> Requested | None:
        # A document is no key: on a miss the text is parsed again.
        return requested_cost(
            schema, parse(query), operation_name, orjson.loads(variables), self.rules
        )


def _operation_key(
    query: str | None, operation_name: str | None, variables: Mapping[str, Any] | None
) -> tuple[str, str | None, bytes] | None:
    if query is None:
        return None
    try:
        encoded = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not JSON's values: not from a request body
        return None
    if len(query) + len(encoded) > MAX_REMEMBERED_BYTES:
        return None
    return query, operation_name, encoded


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
        rules: Rules,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.rules = rules
        # Cost is linear in the number of parents, so a selection set's cost
        # for one parent is worked out once: fragments spread many times (or
        # nested to blow up) cost a walk each, not one per place they land.
        self.memo: dict[tuple[int, str, int | None], tuple[float, bool]] = {}

    def selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, page: int | None
    ) -> tuple[float, bool]:
        key = (id(selection_set), parent.name, page)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = (0.0, False)  # a cycle (validation forbids it) costs nothing more
        units, viewer = 0.0, False
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                field_units, field_viewer = self._field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                if target is None:
                    continue
                field_units, field_viewer = self.selection_set(
                    selection.selection_set, target, page
                )
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                target = fragment and self.schema.get_type(fragment.type_condition.name.value)
                if fragment is None or target is None:
                    continue
                field_units, field_viewer = self.selection_set(fragment.selection_set, target, page)
            else:
                continue
            units += field_units
            viewer = viewer or field_viewer
        self.memo[key] = (units, viewer)
        return units, viewer

    def _field(
        self, node: FieldNode, parent: GraphQLNamedType, page: int | None
    ) -> tuple[float, bool]:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType):
            return 0.0, False
        definition = parent.fields.get(name)
        if definition is None:
            return 0.0, False
        rule = self.rules.get(f"{parent.name}.{name}")
        cost = rule(self._arguments(definition, node)) if rule else FREE
        items = cost.items
        if page is not None and name in PAGE_FIELDS:
            items = page
        units, viewer = cost.units, cost.viewer
        if node.selection_set is not None and items:
            child_units, child_viewer = self.selection_set(
                node.selection_set, get_named_type(definition.type), cost.page
            )
            units += items * child_units
            viewer = viewer or child_viewer
        return units, viewer

    def _arguments(self, definition: Any, node: FieldNode) -> Mapping[str, Any]:
        try:
            return get_argument_values(definition, node, self.variables)
        except (GraphQLError, ValueError, TypeError):
            # Execution refuses such arguments before any call; the rule's
            # defaults stand in for them here.
            return {}

    def _included(self, node: Any) -> bool:
        if not node.directives:
            return True
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip.get("if") is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include and include.get("if") is False)
