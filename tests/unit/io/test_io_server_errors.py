"""Issue 10 item 3, 5xx: the API server answers 429/5xx Status errors (e2e/faultproxy.py's
server_errors). client-go v0.29 (rest/with_retry.go) retries a 429 or 5xx only when it carries
Retry-After, and then waits the hint out in full before the next try; without it the error goes
to the caller (kube-scheduler's bind fails: ForgetPod, re-read the pod from the informer, re-queue
unless it is gone or bound). The Retry-After tests failed on the code before the fix (the binder
capped the hint at its 2 s maximum backoff, the reflector ignored it)."""

from __future__ import annotations

import pytest
from io_fakes import FakeKube, conflict
from test_io_app import FixedProfile, make_app, pod, requested_on, wait_until, watch
from test_io_binder import POD, binder
from test_io_informer import FakeApi, make, obj, page

from scheduler.runtime.binder import BindError, ErrorClass
from scheduler.runtime.kube import ApiError
from scheduler.runtime.queue import BACKOFF


def too_many(retry_after: float) -> ApiError:
    return ApiError(429, "Too many requests, please try again later.", reason="TooManyRequests",
                    retry_after=retry_after)


def test_a_bind_waits_a_retry_after_longer_than_its_maximum_backoff_in_full() -> None:
    kube = FakeKube()
    kube.answer("/binding", too_many(5), {"status": "Success"})
    b = binder(kube, initial_wait=0.2, max_wait=2.0)
    b.bind(POD, "n1")
    assert len(kube.calls("POST", "/binding")) == 2
    assert b.sleeps == [5.0], "Retry-After: 5 must be waited out, not cut to the 2 s backoff cap"


def test_a_retry_after_beyond_the_bind_budget_ends_the_bind_instead_of_retrying_early() -> None:
    kube = FakeKube()
    kube.answer("/binding", ApiError(503, "unavailable", reason="ServiceUnavailable", retry_after=10))
    b = binder(kube, retry_budget=3.0, max_wait=2.0)
    with pytest.raises(BindError) as err:
        b.bind(POD, "n1")
    assert err.value.error_class is ErrorClass.FAIL  # read back: not bound, a failed bind
    assert len(kube.calls("POST", "/binding")) == 1 and b.sleeps == []


def test_the_reflector_waits_a_retry_after_before_listing_again() -> None:
    api = FakeApi([too_many(3), page([obj("a", "11")], "11")], [])
    reflector, rec, waits = make(api)
    reflector.run()
    assert rec.calls == [("add", "ns/a", "11")]
    assert len(waits) == 1 and waits[0] >= 3.0, f"relisted after {waits} s, before the server's Retry-After: 3"


def test_a_bind_answered_500_after_the_server_bound_the_pod_is_neither_requeued_nor_leaked() -> None:
    """The bind-errors fault: the POST binds the pod, the answer is replaced by a 500 (no
    Retry-After: never sent again); reading the pod back shows it bound to the chosen node, a
    success; the watch confirms the binding late."""
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    app.binder._sleep = lambda seconds: None
    kube.answer("/binding", ApiError(500, "Internal error occurred: injected", reason="InternalError"),
                conflict(), conflict())
    kube.answer("/pods/p", pod("p", node_name="n1", rv="2"))
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert len(kube.calls("POST", "/binding")) == 1
    assert len(app.queue) == 0, "a pod the server bound went back to the queue"
    assert requested_on(app) == 1000, "the cache forgot a pod the server bound"
    watch(app, "MODIFIED", pod("p", node_name="n1", rv="2"))
    assert app.binding == {}, "the assumed pod leaked"
    assert requested_on(app) == 1000
    assert app.state.num_assumed == 0


def test_binds_answered_503_past_the_retry_budget_forget_the_pod_and_retry_it_after_backoff() -> None:
    """The server-errors fault outlasting the binder's retries: nothing was bound, so the cache
    must not keep the assumed pod, and the pod must come back (backoff), not be lost."""
    kube = FakeKube()
    app = make_app(FixedProfile(), kube)
    app.binder._sleep = lambda seconds: None
    app.binder._max_retries = 2
    kube.answer("/binding", *[ApiError(503, "unavailable", reason="ServiceUnavailable", retry_after=1)] * 3)
    watch(app, "ADDED", pod("p"))
    app.schedule_one(app.queue.pop(timeout=0))
    wait_until(lambda: app.binder.pending() == 0)
    assert len(kube.calls("POST", "/binding")) == 3
    assert app.binding == {} and requested_on(app) == 0
    assert app.queue.dump() == {BACKOFF: ["ns/p"]}
