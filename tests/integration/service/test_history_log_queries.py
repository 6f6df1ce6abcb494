"""Querying the historic external-task log: every filter and every sort key (spec 2.16).

Ported from Camunda's HistoricExternalTaskLogQuerySortingTest (spec 5.3, all 24) and
HistoricExternalTaskLogQueryTest (spec 5.4, all 48). Camunda deploys its default external-task
model once per process it starts, so every task has a process definition of its own; here each
``start_external_task_process`` gives its task a new definition id the same way. Camunda's
fluent query refuses a null criterion (NotValidException); ``HistoricExternalTaskLogQuery.where``
is that query in Python, where a plain ``None`` means "no filter".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from extask.application.dto import HistoricExternalTaskLogDTO
from extask.application.errors import BadRequest
from extask.application.queries import HistoricExternalTaskLogQuery, Page

from .helpers import WORKER_ID, create_task, fetch, raises

LOCK_DURATION = 5 * 60 * 1000
DEFAULT_TOPIC = "foo"
DEFAULT_PROCESS_KEY = "Process"
DEFAULT_EXTERNAL_TASK_NAME = "externalTask"

_deployments = itertools.count(1)


# -- Camunda's test helpers, in extask's terms ---------------------------------------------------


def start_external_task_process(
    service: Any,
    *,
    topic: str = DEFAULT_TOPIC,
    activity_id: str = DEFAULT_EXTERNAL_TASK_NAME,
    process_key: str = DEFAULT_PROCESS_KEY,
    priority: int = 1,
) -> Any:
    """Deploy the default external-task model (a new definition each time) and start one instance."""
    deployment = next(_deployments)
    return create_task(
        service, topic=topic, activity_id=activity_id, priority=priority,
        process_definition_key=process_key, process_definition_id=f"{process_key}:1:{deployment}",
    )


def start_external_task_processes(service: Any, count: int, clock: Any = None) -> list[Any]:
    """``count`` instances with priorities 0..count-1; with a clock, 5 s apart (for timestamp order)."""
    tasks = []
    for priority in range(count):
        tasks.append(start_external_task_process(service, priority=priority))
        if clock is not None:
            clock.advance(seconds=5)
    return tasks


def complete_external_task(service: Any, task_id: str, worker: str = WORKER_ID) -> None:
    """Fetch everything on the topic as ``worker``, complete one task and unlock the rest."""
    locked = fetch(service, worker, DEFAULT_TOPIC, LOCK_DURATION, max_tasks=100)
    service.complete(task_id, worker)
    for other in locked:
        if other.task.id != task_id:
            service.unlock(other.task.id)


def report_failure(service: Any, task_id: str, error_message: str, retries: int = 1, worker: str = WORKER_ID) -> None:
    """Fetch everything on the topic, fail one task with a retry timeout of 0, unlock them all."""
    locked = fetch(service, worker, DEFAULT_TOPIC, LOCK_DURATION, max_tasks=100)
    service.handle_failure(task_id, worker, error_message=error_message, retries=retries, retry_timeout=0)
    for other in locked:
        service.unlock(other.task.id)


def query(service: Any, **criteria: Any) -> list[HistoricExternalTaskLogDTO]:
    return service.query_history_log(HistoricExternalTaskLogQuery.where(**criteria))


def single_result(service: Any, **criteria: Any) -> HistoricExternalTaskLogDTO | None:
    """Camunda's ``singleResult()``: the one match, or None."""
    found = query(service, **criteria)
    assert len(found) <= 1, found
    return found[0] if found else None


def first_log(service: Any) -> HistoricExternalTaskLogDTO:
    return query(service)[0]


def not_valid(message: str):
    return raises(BadRequest, message, "NotValidException")


def verify_query_with_ordering(
    service: Any, count: int, key: str, order: str, *, log_filter: str | None = None
) -> None:
    """The list and the count have ``count`` entries, sorted by ``key`` where values are not null
    (Camunda's null-tolerant comparator)."""
    criteria: dict[str, Any] = {log_filter: True} if log_filter else {}
    logs = query(service, **criteria, sorting=[(key, order)])
    assert len(logs) == count
    assert service.count_history_log(HistoricExternalTaskLogQuery.where(**criteria)) == count
    attribute = {
        "timestamp": "timestamp", "externalTaskId": "external_task_id", "retries": "retries",
        "priority": "priority", "topicName": "topic_name", "workerId": "worker_id",
        "activityId": "activity_id", "activityInstanceId": "activity_instance_id",
        "executionId": "execution_id", "processInstanceId": "process_instance_id",
        "processDefinitionId": "process_definition_id", "processDefinitionKey": "process_definition_key",
    }[key]
    values = [getattr(log, attribute) for log in logs if getattr(log, attribute) is not None]
    assert values == sorted(values, reverse=order == "desc")


# -- 5.3 HistoricExternalTaskLogQuerySortingTest -------------------------------------------------


def start_processes_by(service: Any, count: int, field: str) -> list[Any]:
    """``count`` instances that differ in one attribute: topic, activity id or definition key."""
    options = {
        "topic": lambda i: {"topic": str(i)},
        "activity": lambda i: {"activity_id": f"Activity{i}"},
        "key": lambda i: {"process_key": f"ProcessKey{i}"},
    }[field]
    return [start_external_task_process(service, **options(i)) for i in range(count)]


ORDERS = pytest.mark.parametrize("order", ["asc", "desc"])


@ORDERS
class TestHistoricExternalTaskLogQuerySorting:
    """Each test runs once ascending ("Asc") and once descending ("Dsc"): 12 x 2 scenarios."""

    def test_query_sorting_by_timestamp(self, service, clock, order):
        start_external_task_processes(service, 10, clock)
        verify_query_with_ordering(service, 10, "timestamp", order)

    def test_query_sorting_by_task_id(self, service, clock, order):
        start_external_task_processes(service, 10, clock)
        verify_query_with_ordering(service, 10, "externalTaskId", order)

    def test_query_sorting_by_retries(self, service, clock, order):
        """Failure logs record the retries before the failure: null for a first failure, as in Camunda."""
        tasks = start_external_task_processes(service, 10, clock)
        for retries, task in enumerate(tasks, start=1):
            report_failure(service, task.id, "foo", retries=retries)
        verify_query_with_ordering(service, 10, "retries", order, log_filter="failure_log")

    def test_query_sorting_by_priority(self, service, clock, order):
        start_external_task_processes(service, 10, clock)
        verify_query_with_ordering(service, 10, "priority", order)

    def test_query_sorting_by_topic_name(self, service, order):
        start_processes_by(service, 10, "topic")
        verify_query_with_ordering(service, 10, "topicName", order)

    def test_query_sorting_by_worker_id(self, service, clock, order):
        tasks = start_external_task_processes(service, 10, clock)
        for worker, task in enumerate(tasks):
            complete_external_task(service, task.id, worker=str(worker))
        verify_query_with_ordering(service, 10, "workerId", order, log_filter="success_log")

    def test_query_sorting_by_activity_id(self, service, order):
        start_processes_by(service, 10, "activity")
        verify_query_with_ordering(service, 10, "activityId", order)

    def test_query_sorting_by_activity_instance_id(self, service, clock, order):
        start_external_task_processes(service, 10, clock)
        verify_query_with_ordering(service, 10, "activityInstanceId", order)

    def test_query_sorting_by_execution_id(self, service, clock, order):
        start_external_task_processes(service, 10, clock)
        verify_query_with_ordering(service, 10, "executionId", order)

    def test_query_sorting_by_process_instance_id(self, service, clock, order):
        start_external_task_processes(service, 10, clock)
        verify_query_with_ordering(service, 10, "processInstanceId", order)

    def test_query_sorting_by_process_definition_id(self, service, clock, order):
        start_external_task_processes(service, 8, clock)
        verify_query_with_ordering(service, 8, "processDefinitionId", order)

    def test_query_sorting_by_process_definition_key(self, service, order):
        start_processes_by(service, 10, "key")
        verify_query_with_ordering(service, 10, "processDefinitionKey", order)


class TestHistoricExternalTaskLogQuerySortingExtras:
    @ORDERS
    def test_query_sorting_by_retries_of_later_failures(self, service, order):
        """Second failures record the first failures' retries, so here the order is checked on real values."""
        tasks = start_external_task_processes(service, 5)
        for retries, task in enumerate(tasks, start=1):
            report_failure(service, task.id, "first", retries=retries)
        for task in tasks:
            report_failure(service, task.id, "second", retries=1)

        logs = query(service, error_message="second", sorting=[("retries", order)])

        assert [log.retries for log in logs] == sorted(range(1, 6), reverse=order == "desc")

    def test_sorting_by_several_keys_applies_them_in_order(self, service):
        """Topic descending, then priority ascending; ties fall back to the log id."""
        for topic, priority in [("a", 2), ("b", 1), ("a", 1), ("b", 2)]:
            start_external_task_process(service, topic=topic, priority=priority)

        logs = query(service, sorting=[("topicName", "desc"), ("priority", "asc")])

        assert [(log.topic_name, log.priority) for log in logs] == [("b", 1), ("b", 2), ("a", 1), ("a", 2)]

    def test_query_sorting_by_tenant_id(self, service):
        for tenant in ["t2", "t1", "t3"]:
            create_task(service, tenant_id=tenant)

        logs = query(service, sorting=[("tenantId", "asc")])

        assert [log.tenant_id for log in logs] == ["t1", "t2", "t3"]

    def test_an_unknown_sort_key_is_refused(self, service):
        with raises(BadRequest, "Cannot set query parameter 'sortBy' to value 'color'"):
            query(service, sorting=[("color", "asc")])


# -- 5.4 HistoricExternalTaskLogQueryTest ---------------------------------------------------------


class TestHistoricExternalTaskLogQuery:
    def test_query(self, service):
        task = start_external_task_process(service)

        log = single_result(service)

        assert log is not None and log.external_task_id == task.id

    # log id
    def test_query_by_id(self, service):
        start_external_task_processes(service, 2)
        log_id = first_log(service).id

        log = single_result(service, log_id=log_id)

        assert log is not None and log.id == log_id

    def test_query_fails_by_invalid_id(self, service):
        start_external_task_process(service)
        with not_valid("historicExternalTaskLogId is null"):
            single_result(service, log_id=None)

    def test_query_by_non_existing_id(self, service):
        start_external_task_process(service)
        assert single_result(service, log_id="foo") is None

    # external task id
    def test_query_by_external_task_id(self, service):
        start_external_task_processes(service, 2)
        task_id = first_log(service).external_task_id

        log = single_result(service, external_task_id=task_id)

        assert log is not None and log.external_task_id == task_id

    def test_query_fails_by_invalid_external_task_id(self, service):
        start_external_task_process(service)
        with not_valid("externalTaskId is null"):
            single_result(service, external_task_id=None)

    def test_query_by_non_existing_external_task_id(self, service):
        start_external_task_process(service)
        assert single_result(service, external_task_id="foo") is None

    # topic name
    def test_query_by_topic_name(self, service):
        start_external_task_process(service, topic="dummy")
        task = start_external_task_process(service)

        log = single_result(service, topic_name=DEFAULT_TOPIC)

        assert log is not None and log.external_task_id == task.id

    def test_query_fails_by_invalid_topic_name(self, service):
        start_external_task_process(service)
        with not_valid("topicName is null"):
            single_result(service, topic_name=None)

    def test_query_by_non_existing_topic_name(self, service):
        start_external_task_process(service)
        assert single_result(service, topic_name="foo bar") is None

    # worker id
    def test_query_by_worker_id(self, service):
        first, second = start_external_task_processes(service, 2)
        complete_external_task(service, first.id, worker="dummyWorker")
        complete_external_task(service, second.id, worker=WORKER_ID)

        log = single_result(service, worker_id=WORKER_ID)

        assert log is not None and log.external_task_id == second.id

    def test_query_fails_by_invalid_worker_id(self, service):
        task = start_external_task_process(service)
        complete_external_task(service, task.id)
        with not_valid("workerId is null"):
            single_result(service, worker_id=None)

    def test_query_by_non_existing_worker_id(self, service):
        task = start_external_task_process(service)
        complete_external_task(service, task.id)
        assert single_result(service, worker_id="foo") is None

    # error message
    def test_query_by_error_message(self, service):
        first, second = start_external_task_processes(service, 2)
        error_message = "This is an important error!"
        report_failure(service, first.id, "Dummy error message")
        report_failure(service, second.id, error_message)

        log = single_result(service, error_message=error_message)

        assert log is not None and log.external_task_id == second.id

    def test_query_fails_by_invalid_error_message(self, service):
        start_external_task_process(service)
        with not_valid("errorMessage is null"):
            single_result(service, error_message=None)

    def test_query_by_non_existing_error_message(self, service):
        start_external_task_process(service)
        assert single_result(service, error_message="asdfasdf") is None

    # activity ids
    def test_query_by_activity_id(self, service):
        start_external_task_process(service, activity_id="dummyName")
        task = start_external_task_process(service)

        log = single_result(service, activity_id_in=[DEFAULT_EXTERNAL_TASK_NAME])

        assert log is not None and log.external_task_id == task.id

    def test_query_fails_by_activity_ids_is_null(self, service):
        start_external_task_process(service)
        with not_valid("activityIds is null"):
            single_result(service, activity_id_in=None)

    def test_query_fails_by_activity_ids_contain_null(self, service):
        start_external_task_process(service)
        with not_valid("activityIds contains null value"):
            single_result(service, activity_id_in=["a", None, "b"])

    def test_query_fails_by_activity_ids_contain_empty_string(self, service):
        start_external_task_process(service)
        with not_valid("activityIds contains empty string"):
            single_result(service, activity_id_in=["a", "", "b"])

    def test_query_by_non_existing_activity_ids(self, service):
        start_external_task_process(service)
        assert single_result(service, activity_id_in=["foo"]) is None

    # activity instance ids
    def test_query_by_activity_instance_ids(self, service):
        start_external_task_process(service, activity_id="dummyName")
        task = start_external_task_process(service)

        log = single_result(service, activity_instance_id_in=[task.activity_instance_id])

        assert log is not None and log.external_task_id == task.id

    def test_query_fails_by_activity_instance_ids_is_null(self, service):
        start_external_task_process(service)
        with not_valid("activityIds is null"):  # sic: Camunda's message names the wrong list
            single_result(service, activity_instance_id_in=None)

    def test_query_fails_by_activity_instance_ids_contain_null(self, service):
        start_external_task_process(service)
        with not_valid("activityInstanceIds contains null value"):
            single_result(service, activity_instance_id_in=["a", None, "b"])

    def test_query_fails_by_activity_instance_ids_contain_empty_string(self, service):
        start_external_task_process(service)
        with not_valid("activityInstanceIds contains empty string"):
            single_result(service, activity_instance_id_in=["a", "", "b"])

    def test_query_by_non_existing_activity_instance_ids(self, service):
        start_external_task_process(service)
        assert single_result(service, activity_instance_id_in=["foo"]) is None

    # execution ids
    def test_query_by_execution_ids(self, service):
        start_external_task_processes(service, 2)
        first = first_log(service)

        log = single_result(service, execution_id_in=[first.execution_id])

        assert log is not None and log.id == first.id

    def test_query_fails_by_execution_ids_is_null(self, service):
        start_external_task_process(service)
        with not_valid("activityIds is null"):  # sic
            single_result(service, execution_id_in=None)

    def test_query_fails_by_execution_ids_contain_null(self, service):
        start_external_task_process(service)
        with not_valid("executionIds contains null value"):
            single_result(service, execution_id_in=["a", None, "b"])

    def test_query_fails_by_execution_ids_contain_empty_string(self, service):
        start_external_task_process(service)
        with not_valid("executionIds contains empty string"):
            single_result(service, execution_id_in=["a", "", "b"])

    def test_query_by_non_existing_execution_ids(self, service):
        start_external_task_process(service)
        assert single_result(service, execution_id_in=["foo"]) is None

    # process instance id
    def test_query_by_process_instance_id(self, service):
        start_external_task_processes(service, 2)
        instance_id = first_log(service).process_instance_id

        log = single_result(service, process_instance_id=instance_id)

        assert log is not None and log.process_instance_id == instance_id

    def test_query_fails_by_invalid_process_instance_id(self, service):
        start_external_task_process(service)
        with not_valid("processInstanceId is null"):
            single_result(service, process_instance_id=None)

    def test_query_by_non_existing_process_instance_id(self, service):
        start_external_task_process(service)
        assert single_result(service, process_instance_id="foo") is None

    # process definition id
    def test_query_by_process_definition_id(self, service):
        start_external_task_processes(service, 2)
        definition_id = first_log(service).process_definition_id

        log = single_result(service, process_definition_id=definition_id)

        assert log is not None and log.process_definition_id == definition_id

    def test_query_fails_by_invalid_process_definition_id(self, service):
        start_external_task_process(service)
        with not_valid("processDefinitionId is null"):
            single_result(service, process_definition_id=None)

    def test_query_by_non_existing_process_definition_id(self, service):
        start_external_task_process(service)
        assert single_result(service, process_definition_id="foo") is None

    # process definition key
    def test_query_by_process_definition_key(self, service):
        start_external_task_process(service, process_key="dummyProcess")
        task = start_external_task_process(service, process_key="Process")

        log = single_result(service, process_definition_key=task.process_definition_key)

        assert log is not None and log.external_task_id == task.id

    def test_query_fails_by_invalid_process_definition_key(self, service):
        start_external_task_process(service)
        with not_valid("processDefinitionKey is null"):
            single_result(service, process_definition_key=None)

    def test_query_by_non_existing_process_definition_key(self, service):
        start_external_task_process(service)
        assert single_result(service, process_definition_key="foo") is None

    # the four log states
    def test_query_by_creation_log(self, service):
        task = start_external_task_process(service)
        complete_external_task(service, task.id)

        log = single_result(service, creation_log=True)

        assert log is not None and log.external_task_id == task.id

    def test_query_by_failure_log(self, service):
        task = start_external_task_process(service)
        report_failure(service, task.id, "Dummy error message!")

        log = single_result(service, failure_log=True)

        assert log is not None and log.external_task_id == task.id

    def test_query_by_success_log(self, service):
        task = start_external_task_process(service)
        complete_external_task(service, task.id)

        log = single_result(service, success_log=True)

        assert log is not None and log.external_task_id == task.id

    def test_query_by_deletion_log(self, service):
        task = start_external_task_process(service)
        service.delete_process_instance(task.process_instance_id)

        log = single_result(service, deletion_log=True)

        assert log is not None and log.external_task_id == task.id

    # priorities
    def test_query_by_lower_than_or_equal_a_priority(self, service):
        start_external_task_processes(service, 5)

        logs = query(service, priority_lower_than_or_equals=2)

        assert len(logs) == 3
        assert all(log.priority <= 2 for log in logs)

    def test_query_by_higher_than_or_equal_a_priority(self, service):
        start_external_task_processes(service, 5)

        logs = query(service, priority_higher_than_or_equals=2)

        assert len(logs) == 3
        assert all(log.priority >= 2 for log in logs)

    def test_query_by_priority_range(self, service):
        start_external_task_processes(service, 5)

        logs = query(service, priority_lower_than_or_equals=3, priority_higher_than_or_equals=1)

        assert len(logs) == 3
        assert all(1 <= log.priority <= 3 for log in logs)

    def test_query_by_disjunctive_priority_statements(self, service):
        start_external_task_processes(service, 5)
        assert query(service, priority_lower_than_or_equals=1, priority_higher_than_or_equals=4) == []


class TestHistoricExternalTaskLogQueryExtras:
    def test_the_last_of_several_state_flags_wins(self, service):
        """creation -> failure -> success -> deletion: with several flags set, the later one counts."""
        task = start_external_task_process(service)
        report_failure(service, task.id, "boom")
        complete_external_task(service, task.id)

        assert [log.success_log for log in query(service, creation_log=True, success_log=True)] == [True]
        assert [log.failure_log for log in query(service, creation_log=True, failure_log=True)] == [True]
        assert query(service, success_log=True, deletion_log=True) == []

    def test_by_tenant(self, service):
        create_task(service, tenant_id="t1")
        create_task(service, tenant_id="t2")
        create_task(service)

        assert [log.tenant_id for log in query(service, tenant_id_in=["t1", "t2"])] == ["t1", "t2"]
        assert [log.tenant_id for log in query(service, without_tenant_id=True)] == [None]

    def test_the_plain_query_also_refuses_null_and_empty_ids(self, service):
        """The REST layer builds the plain dataclass; its lists are checked by the service too."""
        start_external_task_process(service)
        for make in (service.query_history_log, service.count_history_log):
            with not_valid("executionIds contains null value"):
                make(HistoricExternalTaskLogQuery(execution_id_in=["a", None]))
            with not_valid("activityIds contains empty string"):
                make(HistoricExternalTaskLogQuery(activity_id_in=[""]))

    def test_none_means_no_filter_in_the_plain_query(self, service):
        start_external_task_processes(service, 2)
        assert service.count_history_log(HistoricExternalTaskLogQuery(log_id=None, topic_name=None)) == 2

    def test_every_log_names_its_own_process_instance_as_root(self, service):
        task = start_external_task_process(service)
        assert first_log(service).root_process_instance_id == task.process_instance_id

    @pytest.mark.parametrize("page, expected", [((1, 2), [1, 2]), ((None, 2), [0, 1]), ((3, None), [3, 4])])
    def test_paging(self, service, page, expected: Sequence[int]):
        start_external_task_processes(service, 5)
        every = query(service, sorting=[("priority", "asc")])
        paged = service.query_history_log(
            HistoricExternalTaskLogQuery(sorting=[("priority", "asc")]), Page(*page)
        )
        assert [log.id for log in paged] == [every[i].id for i in expected]
