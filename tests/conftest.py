"""Shared by every test under tests/."""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _scheduler_logger_as_it_was() -> Iterator[None]:
    """Tests that run the scheduler's CLI in-process (klog.configure) reroute the `scheduler`
    logger to a stream and stop it propagating; later tests that read records through caplog
    would then see none. Put it back after every test."""
    logger = logging.getLogger("scheduler")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
