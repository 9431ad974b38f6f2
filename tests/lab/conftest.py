"""Shared by the lab tests: decoys (processes the lab must never signal; e2e/decoys.py) and polling."""
from __future__ import annotations

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from e2e.decoys import decoys  # noqa: F401 - the fixture, for every test in tests/lab


def poll(check, timeout: float = 20.0):
    for attempt in Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.05),
                            retry=retry_if_exception_type(AssertionError), reraise=True):
        with attempt:
            return check()
