"""How a failed API write is classed (``classify``) and how long to wait before the next try (``wait_for``),
for binds, events and status patches alike."""

from __future__ import annotations

import enum

from tenacity import RetryCallState

from scheduler.runtime.kube import ApiError

RETRYABLE_STATUS = frozenset({0, 429, 500, 502, 503, 504})


class ErrorClass(enum.Enum):
    FINAL = "final"  # the pod is gone: stop, do not retry
    RETRY = "retry"  # the API server or the network hiccuped: try the same request again
    FAIL = "fail"  # the request was refused or lost: this attempt failed, the pod backs off


def classify(exc: BaseException) -> ErrorClass:
    """For events and status patches (binds decide with `_bind_retryable`/`_may_have_bound`)."""
    if isinstance(exc, ApiError):
        if exc.status == 404:
            return ErrorClass.FINAL
        if exc.status in RETRYABLE_STATUS or exc.status >= 500:
            return ErrorClass.RETRY
    return ErrorClass.FAIL


def wait_for(state: RetryCallState, *, initial: float, maximum: float) -> float:
    """Exponential backoff capped at `maximum`; a Retry-After hint (429/5xx) is waited in full, as
    client-go does (rest/with_retry.go: Before sleeps max(backoff, Retry-After)). The retry budget
    (stop_before_delay) ends the retries instead when the hint is longer than what is left."""
    exc = state.outcome.exception() if state.outcome else None
    hinted = getattr(exc, "retry_after", None)
    backoff = min(maximum, initial * 2 ** (state.attempt_number - 1))
    return max(backoff, float(hinted or 0))
