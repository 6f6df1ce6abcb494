"""Promises extask makes beyond Camunda's tests: a refused command records nothing, create_many is
all or nothing, and fetch-and-lock never hands one task to two workers (DESIGN.md).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from extask.application.dto import NewExternalTask
from extask.application.errors import ApplicationError, BadRequest, NotFound

from .helpers import (
    ANOTHER_WORKER_ID,
    LOCK_TIME,
    TOPIC_NAME,
    WORKER_ID,
    create_task,
    events_of,
    fetch,
    ids,
    logs,
    position,
    raises,
)

UNTYPABLE = {1, 2}  # a Python set has no Camunda variable type


def _no_set_up(service: Any, task: Any, clock: Any) -> None:
    pass


def _suspend(service: Any, task: Any, clock: Any) -> None:
    service.suspend_process_instance(task.process_instance_id)


def _expire(service: Any, task: Any, clock: Any) -> None:
    clock.advance(milliseconds=LOCK_TIME + 1)


# name -> (set-up that may record events, command on the locked task that must be refused)
REFUSALS: dict[str, tuple[Callable[[Any, Any, Any], None], Callable[[Any, Any], Any]]] = {
    "complete by the wrong worker": (_no_set_up, lambda s, t: s.complete(t.id, ANOTHER_WORKER_ID)),
    "complete by the wrong worker, with variables": (_no_set_up, lambda s, t: s.complete(
        t.id, ANOTHER_WORKER_ID, variables={"x": 1}, local_variables={"y": 2})),
    "complete with a malformed variable": (_no_set_up, lambda s, t: s.complete(
        t.id, WORKER_ID, variables={"x": UNTYPABLE})),
    "complete with a malformed local variable": (_no_set_up, lambda s, t: s.complete(
        t.id, WORKER_ID, variables={"ok": 1}, local_variables={"x": UNTYPABLE})),
    "complete while suspended": (_suspend, lambda s, t: s.complete(t.id, WORKER_ID, variables={"x": 1})),
    "failure by the wrong worker, with variables": (_no_set_up, lambda s, t: s.handle_failure(
        t.id, ANOTHER_WORKER_ID, error_message="e", retries=0, variables={"x": 1})),
    "failure with negative retries": (_no_set_up, lambda s, t: s.handle_failure(t.id, WORKER_ID, retries=-1)),
    "failure with a malformed variable": (_no_set_up, lambda s, t: s.handle_failure(
        t.id, WORKER_ID, retries=0, variables={"x": UNTYPABLE})),
    "failure while suspended": (_suspend, lambda s, t: s.handle_failure(t.id, WORKER_ID, retries=0)),
    "BPMN error by the wrong worker, with variables": (_no_set_up, lambda s, t: s.handle_bpmn_error(
        t.id, ANOTHER_WORKER_ID, "E", variables={"x": 1})),
    "BPMN error without code": (_no_set_up, lambda s, t: s.handle_bpmn_error(t.id, WORKER_ID, None)),
    "extend lock by the wrong worker": (_no_set_up, lambda s, t: s.extend_lock(t.id, ANOTHER_WORKER_ID, LOCK_TIME)),
    "extend an expired lock": (_expire, lambda s, t: s.extend_lock(t.id, WORKER_ID, LOCK_TIME)),
    "lock held by another worker": (_no_set_up, lambda s, t: s.lock(t.id, ANOTHER_WORKER_ID, LOCK_TIME)),
    "negative retries": (_no_set_up, lambda s, t: s.set_retries(t.id, -1)),
    "bulk retries with one unknown id": (_no_set_up, lambda s, t: s.set_retries_many([t.id, "unknown"], 0)),
    "priority of an unknown task": (_no_set_up, lambda s, t: s.set_priority("unknown", 1)),
    "unlock an unknown task": (_no_set_up, lambda s, t: s.unlock("unknown")),
    "create with a malformed variable": (_no_set_up, lambda s, t: create_task(
        s, process_instance_id=t.process_instance_id, variables={"x": UNTYPABLE})),
    "create without topic": (_no_set_up, lambda s, t: create_task(s, topic="")),
    "create_many with one bad task": (_no_set_up, lambda s, t: s.create_many(
        [NewExternalTask(topic_name="a"), NewExternalTask(topic_name="b", local_variables={"x": UNTYPABLE})])),
    "fetch with a bad lock duration": (_no_set_up, lambda s, t: fetch(s, ANOTHER_WORKER_ID, lock=0)),
    "variables of an unknown process instance": (_no_set_up, lambda s, t: s.set_process_variables(
        "unknown", {"x": 1})),
    "delete an unknown process instance": (_no_set_up, lambda s, t: s.delete_process_instance("unknown")),
}


class TestARefusedCommandRecordsNothing:
    @pytest.mark.parametrize("scenario", list(REFUSALS))
    def test_a_refused_command_leaves_no_events(self, service, engine, clock, locked, scenario):
        """A command that is refused records no event and changes neither the task nor the process variables."""
        task = locked.task
        set_up, refusal = REFUSALS[scenario]
        set_up(service, task, clock)
        before = position(engine)
        task_before = service.get_task(task.id)
        variables_before = service.get_process_variables(task.process_instance_id)

        with pytest.raises(ApplicationError):
            refusal(service, task)

        assert position(engine) == before
        assert service.get_task(task.id) == task_before
        assert service.get_process_variables(task.process_instance_id) == variables_before


class TestCreateManyIsAllOrNothing:
    def test_create_many_creates_all_in_order(self, service):
        """create_many returns one DTO per request, in order, and every task is fetchable."""
        created = service.create_many([NewExternalTask(topic_name=TOPIC_NAME, business_key=str(i)) for i in range(3)])

        assert [t.business_key for t in created] == ["0", "1", "2"]
        assert sorted(ids(fetch(service, max_tasks=5))) == sorted(t.id for t in created)

    def test_an_invalid_task_creates_none(self, service, engine):
        """If one task of the batch is invalid, none is created: no events, no tasks, no history."""
        before = position(engine)

        with raises(BadRequest, "topicName is null", "NullValueException"):
            service.create_many([
                NewExternalTask(topic_name=TOPIC_NAME, process_instance_id="pi-1"),
                NewExternalTask(topic_name="", process_instance_id="pi-2"),
            ])

        assert position(engine) == before
        assert fetch(service, max_tasks=5) == []
        assert logs(service) == []

    def test_a_malformed_variable_creates_none(self, service, engine):
        """A malformed variable on the third task keeps the first two from being created."""
        before = position(engine)

        with raises(BadRequest, camunda_type="InvalidRequestException"):
            service.create_many([
                NewExternalTask(topic_name=TOPIC_NAME),
                NewExternalTask(topic_name=TOPIC_NAME),
                NewExternalTask(topic_name=TOPIC_NAME, variables={"x": UNTYPABLE}),
            ])

        assert position(engine) == before
        assert fetch(service, max_tasks=5) == []

    def test_a_task_refused_by_its_process_instance_creates_none(self, service, engine):
        """A task for a deleted process instance, refused while deciding, takes the valid ones down with it."""
        gone = create_task(service, process_instance_id="pi-gone")
        service.delete_process_instance("pi-gone")
        before = position(engine)

        with pytest.raises(ApplicationError):
            service.create_many([
                NewExternalTask(topic_name=TOPIC_NAME, process_instance_id="pi-new", variables={"a": 1}),
                NewExternalTask(topic_name=TOPIC_NAME, process_instance_id="pi-gone"),
            ])

        assert position(engine) == before
        assert fetch(service, max_tasks=5) == []
        assert [log.external_task_id for log in logs(service, creation_log=True)] == [gone.id]

    def test_bulk_set_retries_is_all_or_nothing(self, service):
        """Bulk setRetries with an unknown id changes none of the known tasks."""
        first, second = create_task(service), create_task(service)

        with raises(NotFound):
            service.set_retries_many([first.id, second.id, "unknown"], 0)

        assert (service.get_task(first.id).retries, service.get_task(second.id).retries) == (None, None)


class TestFetchHandsEachTaskToOneWorker:
    def test_sequential_fetches_are_disjoint(self, service):
        """Two workers fetching one after the other get disjoint tasks, each locked by its fetcher."""
        for _ in range(8):
            create_task(service)

        first = fetch(service, "worker-a", max_tasks=5)
        second = fetch(service, "worker-b", max_tasks=5)

        assert len(first) == 5 and len(second) == 3
        assert not set(ids(first)) & set(ids(second))
        for locked in first + second:
            assert service.get_task(locked.task.id).worker_id == locked.task.worker_id

    def test_concurrent_fetches_never_hand_out_a_task_twice(self, service):
        """Competing workers in threads: every task is handed out exactly once and nobody gets an error."""
        total, workers = 40, 6
        service.create_many([NewExternalTask(topic_name=TOPIC_NAME) for _ in range(total)])
        handed_out: list[tuple[str, str]] = []
        errors: list[BaseException] = []
        start = threading.Barrier(workers)
        guard = threading.Lock()

        def work(worker: str) -> None:
            try:
                start.wait()
                for _ in range(20):
                    got = fetch(service, worker, max_tasks=3)
                    with guard:
                        handed_out.extend((t.task.id, worker) for t in got)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        counts = Counter(task_id for task_id, _ in handed_out)
        assert [task_id for task_id, n in counts.items() if n > 1] == []
        assert len(counts) == total
        for task_id, worker in handed_out:
            assert service.get_task(task_id).worker_id == worker


class TestConcurrentWritersAreRetried:
    def test_concurrent_commands_on_one_task_all_succeed(self, service, engine, task):
        """Writers racing on one task are retried on fresh state: nobody sees a conflict, no change is lost."""
        writers, changes = 6, 5
        errors: list[BaseException] = []
        start = threading.Barrier(writers)

        def work(n: int) -> None:
            try:
                start.wait()
                for i in range(changes):
                    service.set_priority(task.id, n * 100 + i)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        names = [type(event).__name__ for event in events_of(engine, task.id)]
        assert names == ["Created"] + ["PrioritySet"] * (writers * changes)
        assert service.get_task(task.id).priority == events_of(engine, task.id)[-1].priority


JAVA_INT_MAX = 2**31 - 1
JAVA_LONG_MAX = 2**63 - 1

class TestNumbersOutOfRange:
    @pytest.mark.parametrize("command", ["set_retries", "handle_failure", "create"])
    def test_retries_beyond_a_java_int_are_a_bad_request(self, service, engine, locked, command):
        """Retries are a Java int in Camunda: 2**31 is refused as bad input, the same on every backend."""
        before = position(engine)
        with raises(BadRequest):
            if command == "set_retries":
                service.set_retries(locked.task.id, JAVA_INT_MAX + 1)
            elif command == "handle_failure":
                service.handle_failure(locked.task.id, WORKER_ID, retries=JAVA_INT_MAX + 1)
            else:
                create_task(service, retries=JAVA_INT_MAX + 1)
        assert position(engine) == before

    def test_the_largest_java_int_retries_are_accepted(self, service, locked):
        """2**31 - 1 retries are fine on every backend."""
        service.set_retries(locked.task.id, JAVA_INT_MAX)
        assert service.get_task(locked.task.id).retries == JAVA_INT_MAX

    @pytest.mark.parametrize("command", ["set_priority", "create"])
    def test_priority_beyond_a_java_long_is_a_bad_request(self, service, task, command):
        """Priority is a Java long in Camunda: 2**63 is refused as bad input."""
        with raises(BadRequest):
            if command == "set_priority":
                service.set_priority(task.id, JAVA_LONG_MAX + 1)
            else:
                create_task(service, priority=JAVA_LONG_MAX + 1)

    def test_the_largest_java_long_priority_is_accepted(self, service, task):
        """A priority of 2**63 - 1 is stored and fetched first."""
        service.set_priority(task.id, JAVA_LONG_MAX)
        assert fetch(service, use_priority=True)[0].task.priority == JAVA_LONG_MAX

    @pytest.mark.parametrize("command", ["fetch", "lock", "extend_lock", "handle_failure"])
    def test_a_huge_duration_never_crashes(self, service, task, command):
        """A duration of 10**15 ms (a valid Java long) is either accepted or refused as an application error."""
        huge = 10**15
        try:
            if command == "fetch":
                fetch(service, lock=huge)
            else:
                service.lock(task.id, WORKER_ID, LOCK_TIME)
                if command == "lock":
                    service.lock(task.id, WORKER_ID, huge)
                elif command == "extend_lock":
                    service.extend_lock(task.id, WORKER_ID, huge)
                else:
                    service.handle_failure(task.id, WORKER_ID, retries=1, retry_timeout=huge)
        except ApplicationError:
            pass
