"""Helpers shared by the service scenarios: Camunda's test constants, task creation in extask's
terms (a process instance is started implicitly by its first task), fetch shortcuts, exact error
assertions, and readers for history, incidents and the event store.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import pytest

from extask.application.dto import (
    ExternalTaskDTO,
    FetchAndLockRequest,
    FetchTopic,
    HistoricExternalTaskLogDTO,
    IncidentDTO,
    LockedExternalTaskDTO,
    NewExternalTask,
)
from extask.application.errors import ApplicationError
from extask.application.queries import HistoricExternalTaskLogQuery, IncidentQuery
from extask.domain.external_task import epoch_millis  # noqa: F401  (re-exported for the tests)

# The constants of Camunda's ExternalTaskServiceTest.
WORKER_ID = "aWorkerId"
ANOTHER_WORKER_ID = "anotherWorkerId"
LOCK_TIME = 10_000
TOPIC_NAME = "externalTaskTopic"

ONE_TASK_PROCESS = "oneExternalTaskProcess"
PRIORITY_PROCESS = "twoExternalTaskWithPriorityProcess"
PARALLEL_PROCESS = "parallelExternalTaskProcess"

_ids = itertools.count(1)


def new_process_instance_id() -> str:
    return f"pi-{next(_ids)}"


def create_task(service: Any, topic: str = TOPIC_NAME, **fields: Any) -> ExternalTaskDTO:
    """Create one task, as if a process of ``process_definition_key`` reached its external activity."""
    fields.setdefault("process_definition_key", ONE_TASK_PROCESS)
    fields.setdefault("process_definition_id", f"{fields['process_definition_key']}:1:1")
    fields.setdefault("activity_id", "externalTask")
    fields.setdefault("process_instance_id", new_process_instance_id())
    return service.create(NewExternalTask(topic_name=topic, **fields))


def start_parallel_process(
    service: Any,
    *,
    topics: Sequence[str] = ("topic1", "topic2", "topic3"),
    business_key: str | None = None,
    variables: dict[str, Any] | None = None,
    process_definition_key: str = PARALLEL_PROCESS,
    process_definition_id: str | None = None,
    process_instance_id: str | None = None,
) -> list[ExternalTaskDTO]:
    """One process instance with one external task per topic (Camunda's parallel gateway models)."""
    instance_id = process_instance_id or new_process_instance_id()
    definition_id = process_definition_id or f"{process_definition_key}:1:1"
    return service.create_many(
        [
            NewExternalTask(
                topic_name=topic,
                process_instance_id=instance_id,
                process_definition_key=process_definition_key,
                process_definition_id=definition_id,
                activity_id=f"externalTask{index}",
                business_key=business_key,
                variables=dict(variables or {}) if index == 1 else {},
            )
            for index, topic in enumerate(topics, start=1)
        ]
    )


def topic(name: str = TOPIC_NAME, lock: int = LOCK_TIME, **options: Any) -> FetchTopic:
    return FetchTopic(topic_name=name, lock_duration=lock, **options)


def fetch_topics(
    service: Any,
    *topics: FetchTopic,
    worker: str = WORKER_ID,
    max_tasks: int = 1,
    use_priority: bool = False,
    sorting: Sequence[tuple[str, str | None]] = (),
) -> list[LockedExternalTaskDTO]:
    return service.fetch_and_lock(
        FetchAndLockRequest(
            worker_id=worker,
            max_tasks=max_tasks,
            topics=list(topics),
            use_priority=use_priority,
            sorting=list(sorting),
        )
    )


def fetch(
    service: Any,
    worker: str = WORKER_ID,
    topic_name: str = TOPIC_NAME,
    lock: int = LOCK_TIME,
    max_tasks: int = 1,
    *,
    use_priority: bool = False,
    sorting: Sequence[tuple[str, str | None]] = (),
    **topic_options: Any,
) -> list[LockedExternalTaskDTO]:
    """Fetch and lock on one topic, Camunda's ``fetchAndLock(maxTasks, worker).topic(name, lock)``."""
    return fetch_topics(
        service,
        topic(topic_name, lock, **topic_options),
        worker=worker,
        max_tasks=max_tasks,
        use_priority=use_priority,
        sorting=sorting,
    )


def fetch_one(service: Any, worker: str = WORKER_ID, **kw: Any) -> LockedExternalTaskDTO:
    locked = fetch(service, worker, **kw)
    assert len(locked) == 1, locked
    return locked[0]


def ids(locked: Sequence[LockedExternalTaskDTO]) -> list[str]:
    return [t.task.id for t in locked]


@contextmanager
def raises(
    error_class: type[ApplicationError], message: str | None = None, camunda_type: str | None = None
) -> Iterator[pytest.ExceptionInfo]:
    """Expect exactly ``error_class`` (not a sibling), with the given message and Camunda type."""
    with pytest.raises(ApplicationError) as info:
        yield info
    error = info.value
    assert type(error) is error_class, f"{type(error).__name__}: {error.message}"
    if message is not None:
        assert error.message == message
    if camunda_type is not None:
        assert error.camunda_type == camunda_type


def logs(service: Any, **criteria: Any) -> list[HistoricExternalTaskLogDTO]:
    return service.query_history_log(HistoricExternalTaskLogQuery(**criteria))


def failure_logs_newest_first(service: Any, task_id: str) -> list[HistoricExternalTaskLogDTO]:
    """Camunda's ``getHistoricTaskLogOrdered``: the failure logs of a task, newest first."""
    return logs(service, failure_log=True, external_task_id=task_id, sorting=[("timestamp", "desc")])


def incidents(service: Any, **criteria: Any) -> list[IncidentDTO]:
    return service.query_incidents(IncidentQuery(**criteria))


def historic_incidents(engine: Any, task_id: str) -> list[dict[str, Any]]:
    """The incident history of a task, oldest first.

    The service has no historic-incident query yet, so this reads the history read model's table
    directly (after catching the projection up, as every history query does).
    """
    engine.history.catch_up()
    columns = ("id", "state", "history_configuration", "incident_message", "create_time", "end_time")
    rows = engine.history._rows(
        f"SELECT {', '.join(columns)} FROM {{hist_incident}} WHERE configuration = ? "
        "ORDER BY create_time, id",
        (task_id,),
    )
    return [{column: row[column] for column in columns} for row in rows]


def events_of(engine: Any, aggregate_id: str | UUID) -> list[Any]:
    """Every stored event of one aggregate, in order."""
    return list(engine.event_store.events.get(UUID(str(aggregate_id))))


def event_names(engine: Any, aggregate_id: str | UUID) -> list[str]:
    return [type(event).__name__ for event in events_of(engine, aggregate_id)]


def position(engine: Any) -> int:
    """The event store's latest notification id: unchanged means no event was recorded."""
    return engine.event_store.recorder.max_notification_id() or 0
