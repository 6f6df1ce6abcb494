"""Event versioning through the real recorders, on SQLite and PostgreSQL: a Completed or Failed event
stored in its version-1 shape (no ``class_version``, no ``variables``) still loads and replays, and
events written now record the process variables the worker submitted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.application.errors import NotFound
from extask.application.queries import HistoricExternalTaskLogQuery, Page
from extask.domain.external_task import ExternalTask
from extask.domain.variables import TypedValue

WORKER = "aWorkerId"
TOPIC = "invoice"


def var(value: Any, type_name: str = "String") -> dict[str, Any]:
    return {"type": type_name, "value": value, "valueInfo": {}}


def locked_task(engine: Any) -> ExternalTask:
    """A task created and fetched through the service, loaded from the event store."""
    created = engine.service.create(NewExternalTask(topic_name=TOPIC, process_instance_id="pi-1"))
    engine.service.fetch_and_lock(
        FetchAndLockRequest(worker_id=WORKER, max_tasks=1, topics=[FetchTopic(topic_name=TOPIC, lock_duration=60_000)])
    )
    return engine.event_store.repository.get(UUID(created.id))


def store_pending_events_in_v1_shape(engine: Any, task: ExternalTask) -> None:
    """Insert the task's pending events with the recorder, Completed and Failed as version 1 wrote them."""
    mapper = engine.event_store.mapper
    stored = []
    for event in task.collect_events():
        record = mapper.to_stored_event(event)
        if isinstance(event, (ExternalTask.Completed, ExternalTask.Failed)):
            state = mapper.transcoder.decode(record.state)
            assert state.pop("class_version") == 2
            del state["variables"]
            record = StoredEvent(
                originator_id=record.originator_id,
                originator_version=record.originator_version,
                topic=record.topic,
                state=mapper.transcoder.encode(state),
            )
        stored.append(record)
    engine.event_store.recorder.insert_events(stored)


def stored_state(engine: Any, task_id: UUID, event_class: type) -> dict[str, Any]:
    [record] = [
        r for r in engine.event_store.recorder.select_events(task_id)
        if r.topic.endswith(event_class.__qualname__)
    ]
    return engine.event_store.mapper.transcoder.decode(record.state)


def events_of(engine: Any, task_id: UUID, event_class: type) -> list[Any]:
    return [e for e in engine.event_store.events.get(task_id) if type(e) is event_class]


def test_a_completion_stored_before_variables_were_recorded_on_the_task_still_loads(engine, clock):
    task = locked_task(engine)
    task.complete(WORKER, clock.advance(1_000), {"local": var("kept")}, variables={"result": var("done")})
    store_pending_events_in_v1_shape(engine, task)
    assert set(stored_state(engine, task.id, ExternalTask.Completed)) == {"timestamp", "worker_id", "local_variables"}

    [completed] = events_of(engine, task.id, ExternalTask.Completed)
    loaded = engine.event_store.repository.get(task.id)

    assert (completed.worker_id, completed.local_variables, completed.variables) == (
        WORKER, {"local": var("kept")}, None,
    )
    assert (loaded.version, loaded.end_state, loaded.worker_id) == (task.version, "completed", WORKER)
    assert loaded.local_variables == {"local": var("kept")}


def test_a_failure_stored_before_variables_were_recorded_on_the_task_still_loads(engine, clock):
    task = locked_task(engine)
    now = clock.advance(1_000)
    task.handle_failure(
        WORKER, now, error_message="gateway down", error_details="Traceback ...", retries=0,
        retry_timeout=5_000, variables={"attempt": var(1, "Integer")},
    )
    store_pending_events_in_v1_shape(engine, task)

    [failed] = events_of(engine, task.id, ExternalTask.Failed)
    loaded = engine.event_store.repository.get(task.id)

    assert (failed.retries, failed.variables) == (0, None)
    assert (loaded.error_message, loaded.error_details, loaded.retries) == ("gateway down", "Traceback ...", 0)
    assert loaded.lock_expiration_time == now + timedelta(milliseconds=5_000)
    assert loaded.incident_id == task.incident_id is not None


def test_the_history_log_replays_a_completion_stored_in_the_v1_shape(engine, clock):
    task = locked_task(engine)
    task.complete(WORKER, clock.advance(1_000))
    store_pending_events_in_v1_shape(engine, task)

    log = engine.service.query_history_log(HistoricExternalTaskLogQuery(external_task_id=str(task.id)))

    assert [(row.creation_log, row.success_log) for row in log] == [(True, False), (False, True)]


def test_completion_and_failure_record_the_submitted_process_variables_without_transient_ones(engine):
    task = locked_task(engine)
    transient = TypedValue("String", "secret", {"transient": True})

    engine.service.handle_failure(
        str(task.id), WORKER, retries=1, variables={"attempt": 1, "token": transient}
    )
    engine.service.complete(
        str(task.id), WORKER, variables={"result": "done", "token": transient}, local_variables={"local": "kept"}
    )

    [failed] = events_of(engine, task.id, ExternalTask.Failed)
    [completed] = events_of(engine, task.id, ExternalTask.Completed)
    assert failed.variables == {"attempt": var(1, "Integer")}
    assert (completed.variables, completed.local_variables) == ({"result": var("done")}, {"local": var("kept")})
    assert stored_state(engine, task.id, ExternalTask.Completed)["class_version"] == 2
    # The process instance received the same variables, as before.
    values = {name: v.value for name, v in engine.service.get_process_variables("pi-1").items()}
    assert values == {"attempt": 1, "result": "done"}


def test_extask_replay_folds_a_failure_and_a_completion_stored_in_the_v1_shape(engine, clock):
    """The events reach the store without their runtime rows (as a version-1 server wrote them
    long ago, say); a replay builds every read model from them as they are now read."""
    task = locked_task(engine)
    task.handle_failure(WORKER, clock.advance(1_000), error_message="boom", retries=1, retry_timeout=0)
    task.complete(WORKER, clock.advance(1_000), {"local": var("kept")})
    store_pending_events_in_v1_shape(engine, task)
    assert engine.replay.verify().differences != []  # the live models never saw these events

    engine.replay.rebuild()

    with pytest.raises(NotFound):
        engine.service.get_task(str(task.id))
    logs = engine.service.query_history_log(HistoricExternalTaskLogQuery(external_task_id=str(task.id)), Page())
    assert [(log.creation_log, log.failure_log, log.success_log) for log in logs] == [
        (True, False, False), (False, True, False), (False, False, True),
    ]
    assert logs[1].error_message == "boom"
    assert engine.replay.verify().differences == []
