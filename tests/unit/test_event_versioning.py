"""Event versioning, without a database: every event class of every aggregate declares its
``class_version`` and an upcaster for each older version, and older stored shapes still load.

The library's mapper stores ``class_version`` in an event's state only when it is above 1 and, on
loading, calls ``upcast_v1_v2``, ``upcast_v2_v3``, ... on the event class until the state is current.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import datetime, timedelta, timezone

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent

from extask import domain
from extask.domain.batch import Batch
from extask.domain.external_task import ExternalTask
from extask.domain.process_instance import ProcessInstance

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
WORKER = "aWorkerId"


def var(value, type_name="String"):
    return {"type": type_name, "value": value, "valueInfo": {}}


def domain_aggregates() -> list[type[Aggregate]]:
    """Every aggregate class defined in the domain package, found by walking its modules."""
    found = []
    for module_info in pkgutil.iter_modules(domain.__path__, f"{domain.__name__}."):
        module = importlib.import_module(module_info.name)
        found += [
            cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Aggregate) and cls.__module__ == module.__name__
        ]
    return found


def event_classes(aggregate: type[Aggregate]) -> list[type]:
    """The event classes written in the aggregate's body, as written.

    The library subclasses each written event class to give it the aggregate's base ``Event``
    (the written class is the last in the MRO with its name). It also gives the aggregate its own
    ``Event``, never triggered, and a copy of each event inherited from a base aggregate (such as
    ``ProcessInstance.Created`` from ``Aggregate.Created``), versioned where it is written.
    """
    found = []
    for cls in vars(aggregate).values():
        if not (isinstance(cls, type) and issubclass(cls, Aggregate.Event)) or cls is aggregate.Event:
            continue
        if len(cls.__bases__) == 2 and cls.__bases__[0] is aggregate.Event:
            continue  # inherited from a base aggregate
        found.append([k for k in cls.__mro__ if k.__qualname__ == cls.__qualname__][-1])
    return found


EVENT_CLASSES = [cls for aggregate in domain_aggregates() for cls in event_classes(aggregate)]


def test_the_walk_finds_every_aggregate_and_their_events():
    assert {ExternalTask, ProcessInstance, Batch} <= set(domain_aggregates())
    walked = {cls.__qualname__ for cls in EVENT_CLASSES}
    assert {"ExternalTask.Created", "ExternalTask.Completed", "ProcessInstance.Started", "Batch.TaskFailed"} <= walked
    assert "ProcessInstance.Created" not in walked and "ExternalTask.Event" not in walked


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_event_class_declares_its_version_in_its_own_body(event_class):
    """Inheriting a version would let a changed event keep its parent's number unnoticed."""
    version = vars(event_class).get("class_version")
    assert isinstance(version, int) and not isinstance(version, bool) and version >= 1


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_event_class_can_upcast_each_older_version(event_class):
    missing = [
        f"upcast_v{n}_v{n + 1}"
        for n in range(1, vars(event_class).get("class_version", 1))
        if not isinstance(vars(event_class).get(f"upcast_v{n}_v{n + 1}"), staticmethod)
    ]
    assert missing == []


def test_completed_and_failed_are_at_version_2():
    assert (ExternalTask.Completed.class_version, ExternalTask.Failed.class_version) == (2, 2)


# -- the v2 change: Completed and Failed record the submitted process variables ------------------


def locked_task() -> ExternalTask:
    task = ExternalTask.create(now=NOW, topic_name="topic", process_instance_id="pi-1")
    task.fetch_lock(WORKER, 10_000, NOW)
    return task


class TestVariablesOnTheTask:
    def test_a_completion_records_the_submitted_process_variables(self):
        task = locked_task()
        task.collect_events()

        task.complete(WORKER, NOW, {"local": var("l")}, variables={"result": var("done")})

        [completed] = task.collect_events()
        assert (completed.local_variables, completed.variables) == ({"local": var("l")}, {"result": var("done")})

    def test_a_failure_records_the_submitted_process_variables(self):
        task = locked_task()
        task.collect_events()

        task.handle_failure(WORKER, NOW, retries=1, variables={"attempt": var(1, "Integer")})

        [failed] = task.collect_events()
        assert failed.variables == {"attempt": var(1, "Integer")}

    def test_a_completion_without_variables_records_an_empty_mapping_not_none(self):
        """None is kept for "not recorded on the task", which only an upcast v1 event says."""
        task = locked_task()
        task.collect_events()

        task.complete(WORKER, NOW)

        [completed] = task.collect_events()
        assert completed.variables == {}


# -- older stored shapes, through the library's mapper and an in-memory event store ---------------


def stored_in_v1_shape(mapper: Mapper, event: object) -> StoredEvent:
    """The event as version 1 stored it: no ``class_version`` and no ``variables`` in its state."""
    stored = mapper.to_stored_event(event)
    state = mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    del state["variables"]
    return StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=mapper.transcoder.encode(state),
    )


def store_in_v1_shape(app: Application, task: ExternalTask) -> None:
    """Save the task, its pending Completed or Failed event in the v1 shape, the others as they are."""
    stored = [
        stored_in_v1_shape(app.mapper, event)
        if isinstance(event, (ExternalTask.Completed, ExternalTask.Failed))
        else app.mapper.to_stored_event(event)
        for event in task.collect_events()
    ]
    app.recorder.insert_events(stored)


class TestOlderShapesLoad:
    def test_the_v1_upcaster_fills_variables_with_none(self):
        for event_class in (ExternalTask.Completed, ExternalTask.Failed):
            state = {"worker_id": WORKER, "local_variables": {}}
            event_class.upcast_v1_v2(state)
            assert state == {"worker_id": WORKER, "local_variables": {}, "variables": None}

    def test_a_completion_stored_before_variables_were_recorded_on_the_task_still_loads(self):
        app = Application()
        task = locked_task()
        task.complete(WORKER, NOW + timedelta(seconds=1), {"local": var("l")}, variables={"result": var("done")})
        store_in_v1_shape(app, task)

        loaded = app.repository.get(task.id)
        completed = list(app.events.get(task.id))[-1]

        assert type(completed) is ExternalTask.Completed
        assert (completed.worker_id, completed.local_variables, completed.variables) == (
            WORKER, {"local": var("l")}, None,
        )
        assert (loaded.version, loaded.end_state, loaded.local_variables) == (3, "completed", {"local": var("l")})

    def test_a_failure_stored_before_variables_were_recorded_on_the_task_still_loads(self):
        app = Application()
        task = locked_task()
        task.handle_failure(
            WORKER, NOW, error_message="boom", error_details="trace", retries=0, retry_timeout=500,
            variables={"attempt": var(1, "Integer")},
        )
        store_in_v1_shape(app, task)

        loaded = app.repository.get(task.id)
        failed = [e for e in app.events.get(task.id) if type(e) is ExternalTask.Failed]

        assert [e.variables for e in failed] == [None]
        assert (loaded.error_message, loaded.error_details, loaded.retries) == ("boom", "trace", 0)
        assert loaded.lock_expiration_time == NOW + timedelta(milliseconds=500)
        assert loaded.incident_id is not None  # the IncidentCreated after it folds as before

    def test_a_completion_stored_now_keeps_its_version_and_variables(self):
        app = Application()
        task = locked_task()
        task.complete(WORKER, NOW, variables={"result": var("done")})
        app.save(task)

        completed = list(app.events.get(task.id))[-1]

        assert completed.variables == {"result": var("done")}
        stored = app.recorder.select_events(task.id)[-1]
        assert app.mapper.transcoder.decode(stored.state)["class_version"] == 2
