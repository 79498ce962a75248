"""Execution that reads a plain scalar field straight off its object.

graphql-core runs every field through the same steps: a resolve-info tuple,
argument coercion, an awaitable check, and completion by walking the field's
type. A plain scalar field (strawberry calls it basic: no resolver, no field
extension, no permission) needs only its attribute and its type's output
coercion, and a page of 20 products asks 60 of them.

Anything out of the ordinary takes graphql-core's own path, so its answers,
errors and hooks are unchanged: a null, an exception, an awaitable, a value the
scalar will not coerce, and every field while a schema extension resolves
fields (ftv1 tracing, OpenTelemetry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter


class PlainLeaf(NamedTuple):
    python_name: str
    read: Callable[[Any, str], Any]  # strawberry's default resolver: getattr
    coerce: Callable[[Any], Any]


PlainLeaves = Mapping[GraphQLObjectType, Mapping[str, PlainLeaf]]

_by_schema: WeakKeyDictionary[GraphQLSchema, PlainLeaves] = WeakKeyDictionary()


def plain_leaves(schema: GraphQLSchema) -> PlainLeaves:
    """Each object type's plain scalar and enum fields, by GraphQL name."""
    leaves: dict[GraphQLObjectType, dict[str, PlainLeaf]] = {}
    for graphql_type in schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for name, field in graphql_type.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            # strawberry's own mark for a field it resolves by attribute alone.
            if definition is None or not getattr(field.resolve, "_is_default", False):
                continue
            if not definition.is_basic_field:
                continue
            leaf_type = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if not isinstance(leaf_type, GraphQLScalarType | GraphQLEnumType):
                continue
            leaves.setdefault(graphql_type, {})[name] = PlainLeaf(
                definition.python_name,
                definition.default_resolver,
                leaf_type.coerce_output_value,
            )
    return leaves


class PlainFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        leaves = _by_schema.get(self.schema)
        if leaves is None:
            leaves = _by_schema[self.schema] = plain_leaves(self.schema)
        middleware = self.middleware_manager
        resolving = middleware is not None and bool(middleware._middleware_resolvers)
        self._plain_leaves: PlainLeaves = {} if resolving else leaves

    def execute_fields(  # type: ignore[override]
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        fields = self._plain_leaves.get(parent_type)
        if fields is not None:
            results = self._plain_object(fields, source_value, grouped_field_set)
            if results is not None:
                return results
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def _plain_object(
        self, fields: Mapping[str, PlainLeaf], source: Any, grouped_field_set: Any
    ) -> dict[str, Any] | None:
        """An object asked for plain fields alone (a product's name and price),
        as one dict: no path or awaitable check per field. None for any other
        (an order with its lines), which graphql-core completes field by field,
        reading its plain ones in execute_field below."""
        leaves = [
            (response_name, fields.get(field_details_list[0].node.name.value))
            for response_name, field_details_list in grouped_field_set.items()
        ]
        if any(leaf is None for _, leaf in leaves):
            return None
        results: dict[str, Any] = {}
        for response_name, leaf in leaves:
            value = self._plain_value(leaf, source)  # type: ignore[arg-type]
            if value is None:
                return None
            results[response_name] = value
        return results

    def _plain_value(self, leaf: PlainLeaf, source: Any) -> Any:
        """The field's output value, or None where graphql-core's path must decide."""
        try:
            value = leaf.read(source, leaf.python_name)
            if value is None or self.is_awaitable(value):
                return None
            coerced = leaf.coerce(value)
        except Exception:  # graphql-core's path reports it
            return None
        return None if coerced is Undefined else coerced

    def execute_field(  # type: ignore[override]
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        fields = self._plain_leaves.get(parent_type)
        if fields is not None:
            leaf = fields.get(field_details_list[0].node.name.value)
            if leaf is not None:
                value = self._plain_value(leaf, source)
                if value is not None:
                    return value
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
