"""botocore's standard retries, with a backoff at DynamoDB's scale.

Standard mode retries throttling, 5xx answers and dropped connections, under
a retry quota, with full jitter; but its first delay is up to 1 s and the
fourth up to 8 s, which no request with a 5 s deadline can wait out. The AWS
SDKs wait less for DynamoDB: this keeps botocore's retry conditions and quota
and only scales the delays (up to 50 ms, 100 ms, 200 ms, ... capped at 1 s).
"""

from __future__ import annotations

from typing import Any

from aiobotocore.retries.standard import (
    AioRetryHandler,
    AioRetryPolicy,
    AioStandardRetryConditions,
)
from botocore.retries import quota
from botocore.retries.standard import ExponentialBackoff, RetryEventAdapter, RetryQuotaChecker

BASE_DELAY = 0.05
MAX_DELAY = 1.0


class DynamoBackoff(ExponentialBackoff):
    """rand(0, 1) * min(base * 2 ** (attempt - 1), cap): full jitter."""

    def __init__(self, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> None:
        super().__init__(max_backoff=cap)
        self._base_delay = base

    def delay_amount(self, context: Any) -> float:
        exponent = context.attempt_number - 1
        return self._random() * min(self._base_delay * 2**exponent, self._max_backoff)


def use_dynamodb_backoff(client: Any) -> None:
    """Replaces the client's standard retry handler by one with DynamoBackoff.

    As botocore registers its own (`retries.standard.register_retry_handler`),
    under the same unique id, so it takes that handler's place.
    """
    max_attempts = client.meta.config.retries["total_max_attempts"]
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    unique_id = f"retry-config-{service}"
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    retry_quota = RetryQuotaChecker(quota.RetryQuota())
    events.register(f"after-call.{service}", retry_quota.release_retry_quota)
    handler = AioRetryHandler(
        retry_policy=AioRetryPolicy(
            retry_checker=AioStandardRetryConditions(max_attempts=max_attempts),
            retry_backoff=DynamoBackoff(),
        ),
        retry_event_adapter=RetryEventAdapter(),
        retry_quota=retry_quota,
    )
    events.register(f"needs-retry.{service}", handler.needs_retry, unique_id=unique_id)
