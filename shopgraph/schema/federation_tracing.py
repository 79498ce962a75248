"""Apollo Federation inline traces (ftv1), for a gateway that asks for them.

A gateway sends `apollo-federation-include-trace: ftv1`; the answer then
carries `extensions.ftv1`, a base64 protobuf `Trace` of the fields' timings
and errors. Requests without the header pay nothing for it.
"""

from __future__ import annotations

from strawberry.extensions.tracing.apollo_federation import ApolloFederationTracingExtension

# The header a gateway sends to ask for the trace (its value: "ftv1").
INCLUDE_TRACE_HEADER = "apollo-federation-include-trace"


class FederatedTracing(ApolloFederationTracingExtension):
    """strawberry's ftv1 extension, wrapping resolvers only when asked to.

    strawberry puts every extension that implements `resolve` around every
    field of every request: the stock extension, asked or not, turns each
    field into an awaitable. strawberry asks each request's instance, after
    giving it the request's context, whether it resolves; this one says so
    only when the request carries the header.
    """

    def _implements_resolve(self) -> bool:  # type: ignore[override]
        return self._check_should_trace()
