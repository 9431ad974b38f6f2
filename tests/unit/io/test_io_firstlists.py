"""The first lists of nodes and pods, asked for before the rest of the process is built: each answer
handed to its reflector once, for exactly its query; failures raised where the reflector's own list
would have raised them; the queries the same as the reflectors' own first lists."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from scheduler.runtime.firstlists import SCHEDULER_FIRST_LISTS, FirstListsInFlight
from scheduler.runtime.informer import NODES_PATH, PODS_PATH, KubeListWatch, Reflector, first_list_query
from scheduler.runtime.kube import ApiError

from tests.unit.io.io_fakes import FakeKube
from tests.unit.io.test_io_app import FixedProfile, make_app

NODE_LIST = {"metadata": {"resourceVersion": "7"},
             "items": [{"metadata": {"name": "n1", "resourceVersion": "5", "managedFields": [{}]}}]}


class HeldKube(FakeKube):
    """Answers a GET only once the test releases it: proves `take` waits for a list on its way."""

    def __init__(self) -> None:
        super().__init__(responder=lambda method, path, body: NODE_LIST)
        self.release = threading.Event()
        self.asked = threading.Event()

    def request(self, method: str, path: str, **kwargs: Any) -> dict:
        self.asked.set()
        assert self.release.wait(10), "the test never released the list"
        return super().request(method, path, **kwargs)


def test_a_first_list_is_handed_over_once_and_only_for_its_own_query() -> None:
    kube = FakeKube(responder=lambda method, path, body: NODE_LIST)
    first = FirstListsInFlight(kube, [(NODES_PATH, first_list_query(None))])
    # Another query (a re-list has no resourceVersion "0") is not the answer asked for.
    assert first.take(NODES_PATH, {"limit": 500}) is None
    assert first.take(NODES_PATH, first_list_query(None)) == NODE_LIST
    assert first.take(NODES_PATH, first_list_query(None)) is None  # taken: the next list asks afresh
    assert kube.calls("GET", NODES_PATH) == [("GET", NODES_PATH, None)]


def test_take_waits_for_a_list_still_on_its_way() -> None:
    kube = HeldKube()
    first = FirstListsInFlight(kube, [(NODES_PATH, first_list_query(None))])
    assert kube.asked.wait(10)
    got: list[Any] = []
    taker = threading.Thread(target=lambda: got.append(first.take(NODES_PATH, first_list_query(None))))
    taker.start()
    taker.join(0.05)
    assert taker.is_alive() and got == []  # still waiting: the answer has not come
    kube.release.set()
    taker.join(10)
    assert got == [NODE_LIST]


def test_a_failed_first_list_fails_the_reflectors_list_as_its_own_would() -> None:
    kube = FakeKube()
    kube.answer(NODES_PATH, ApiError(503, "the API server is starting"))
    first = FirstListsInFlight(kube, [(NODES_PATH, first_list_query(None))])
    with pytest.raises(ApiError, match="starting"):
        first.take(NODES_PATH, first_list_query(None))


def test_a_reflector_takes_its_first_list_from_there_and_lists_afresh_after() -> None:
    kube = FakeKube(responder=lambda method, path, body: {"metadata": {"resourceVersion": "9"}, "items": []})
    kube.answer(NODES_PATH, NODE_LIST)
    first = FirstListsInFlight(kube, [(NODES_PATH, first_list_query(None))])
    added: list[dict] = []
    handler = type("H", (), {"on_add": lambda self, o: added.append(o), "on_update": lambda self, o, n: None,
                             "on_delete": lambda self, o: added.remove(o)})()
    reflector = Reflector(KubeListWatch(kube, first), name="nodes", path=NODES_PATH, handler=handler, kind="Node")
    reflector.relist()
    assert [o["metadata"]["name"] for o in added] == ["n1"] and reflector.resource_version == "7"
    assert "managedFields" not in added[0]["metadata"]  # the reflector's trim applies to it too
    assert len(kube.calls("GET", NODES_PATH)) == 1  # the prefetch's, not a second one
    reflector.relist()  # a re-list is a fresh request
    assert len(kube.calls("GET", NODES_PATH)) == 2 and added == [] and reflector.resource_version == "9"


def test_the_lists_asked_for_early_are_the_first_lists_the_schedulers_reflectors_send() -> None:
    # Were they different, nothing would break, but every start would list twice.
    class Recording:
        def __init__(self) -> None:
            self.queries: list[tuple[str, dict]] = []

        def list(self, path: str, query: dict) -> dict:
            self.queries.append((path, dict(query)))
            return {"metadata": {"resourceVersion": "1"}, "items": []}

        def watch(self, path: str, query: dict, read_timeout: float):  # pragma: no cover - not reached
            return iter(())

    app = make_app(FixedProfile("fixed", target="n1"))
    recording = Recording()
    for reflector in (app.node_reflector, app.pod_reflector):
        reflector.api = recording
        reflector.lists = 0
        reflector.relist()
    assert recording.queries == [(path, dict(query)) for path, query in SCHEDULER_FIRST_LISTS]
    assert [path for path, _ in SCHEDULER_FIRST_LISTS] == [NODES_PATH, PODS_PATH]
