"""The assembled schema and its exported SDL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.schema.config import StrawberryConfig

from shopgraph.schema import cost_rules
from shopgraph.schema.cost_limit import QueryCostLimit
from shopgraph.schema.extensions import DynamoCost, ErrorCodes, RequestMetrics, SafeParserCache
from shopgraph.schema.federation_tracing import FederatedTracing
from shopgraph.schema.plain_fields import PlainFieldsExecutionContext
from shopgraph.schema.query_cost import RequestedCosts
from shopgraph.schema.root import Mutation, Query, Subscription
from shopgraph.schema.scalars import SCALAR_MAP
from shopgraph.schema.trusted_documents import TrustedDocuments, TrustedOnly
from shopgraph.settings import Settings

EXPORTED_SDL = Path(__file__).with_name("schema.graphql")


class ShopSchema(strawberry.federation.Schema):
    """A Federation 2 subgraph: User, Product and Order are entities keyed by id."""

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        # ErrorCodes logs what is unexpected, with the request id; domain errors
        # are answers, not incidents, and are not logged as errors.
        return None


def build_schema(
    settings: Settings | None = None, trusted: TrustedDocuments | None = None
) -> strawberry.Schema:
    settings = settings or Settings()
    # With SHOPGRAPH_TRUSTED_ONLY, the manifest's documents and nothing else.
    trusted_only = []
    if settings.trusted_only:
        if trusted is None:
            raise ValueError("trusted_only needs the trusted documents")
        documents = trusted
        trusted_only = [lambda: TrustedOnly(documents)]
    max_depth, max_aliases, max_tokens = (
        settings.max_depth,
        settings.max_aliases,
        settings.max_tokens,
    )
    introspection = [] if settings.introspection else [DisableIntrospection]
    # strawberry's own OpenTelemetry extension, on the global tracer provider.
    tracing = [OpenTelemetryExtension] if settings.tracing else []
    # The depth and alias limiters each make a new validation rule class when
    # constructed. The validation cache is keyed by the rules, so limiters made
    # per request would make every request miss it: make their rules once.
    limits = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
    rules = cost_rules.rules(status_shards=settings.status_shards, view_shards=settings.view_shards)
    # One memory of operations' costs for every request, as the caches above.
    costs = RequestedCosts(rules)
    return ShopSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            # Factories: a fresh extension per request (the caches are shared
            # by maxsize inside strawberry).
            *trusted_only,
            lambda: SafeParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            lambda: AddValidationRules(limits),
            lambda: MaxTokensLimiter(max_token_count=max_tokens),
            *introspection,
            *tracing,
            # ftv1 traces for a federation gateway that asks (by header).
            FederatedTracing,
            lambda: QueryCostLimit(
                costs=costs,
                limit=settings.max_query_cost,
                admin_limit=settings.admin_max_query_cost,
            ),
            DynamoCost,
            RequestMetrics,
            ErrorCodes,
        ],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=PlainFieldsExecutionContext,
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
