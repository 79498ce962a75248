"""The query cost limit: an operation whose requested cost is over the limit
is refused before it runs, with not a single DynamoDB call."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from shopgraph.errors import MaxCostExceeded, ShopError
from shopgraph.resolvers.context import RequestContext
from shopgraph.schema.cost_rules import VIEWER_UNITS
from shopgraph.schema.query_cost import RequestedCosts


class QueryCostLimit(SchemaExtension):
    """Reckons each operation's requested cost (query_cost) into the request's
    cost recorder, and refuses one over `limit`. Admins may go up to
    `admin_limit`: between the two, the viewer is looked up to tell (a call
    the operation would make anyway); above both, nothing is called."""

    def __init__(self, *, costs: RequestedCosts, limit: float, admin_limit: float) -> None:
        self.costs = costs
        self.limit = limit
        self.admin_limit = max(admin_limit, limit)

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        document = execution.graphql_document
        recorder = getattr(getattr(context, "db", None), "cost", None)
        if document is not None and recorder is not None:
            requested = self.costs.of(
                execution.schema._schema,
                document,
                execution.query,
                execution.operation_name,
                execution.variables,
            )
            if requested is not None:
                recorder.requested = requested.total(VIEWER_UNITS, context.bearer() is not None)
                refusal = await self._refusal(context, recorder.requested)
                if refusal is not None and execution.operation_type is OperationType.SUBSCRIPTION:
                    raise refusal  # a subscription ignores a result set here; it reports this
                if refusal is not None:
                    execution.result = ExecutionResult(data=None, errors=[refusal])
        yield

    async def _refusal(self, context: RequestContext, cost: float) -> GraphQLError | None:
        if cost <= self.limit:
            return None
        if cost <= self.admin_limit and context.bearer() is not None:
            try:
                viewer = await context.viewer()
            except ShopError as exc:
                return GraphQLError(exc.message, original_error=exc)
            if viewer is not None and viewer.is_admin:
                return None
        error = MaxCostExceeded(
            f"This operation would cost {cost:g} capacity units; the limit is {self.limit:g}"
            f" ({self.admin_limit:g} for admins). Ask for fewer items (a smaller first:,"
            " fewer nested lists) or split it.",
            requestedQueryCost=cost,
            maxCost=self.limit,
            adminMaxCost=self.admin_limit,
        )
        return GraphQLError(error.message, original_error=error)
