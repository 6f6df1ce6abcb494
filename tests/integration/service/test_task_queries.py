"""Querying runtime tasks: list and count, every filter of ExternalTaskQuery with its exact
boundaries, sorting and paging, and the topic names (spec 2.1, 2.2, 2.15).

Ported from Camunda's ExternalTaskQueryTest (all but the process variable scenarios, which are in
test_task_query_variables.py), ExternalTaskQueryByCreateTimeTest, ExternalTaskQueryByPriorityTest
and ExternalTaskServiceTest (spec 5.1 #167-#170).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from extask.application.dto import NewExternalTask
from extask.application.errors import BadRequest
from extask.application.queries import ExternalTaskQuery, Page

from .helpers import (
    ONE_TASK_PROCESS,
    TOPIC_NAME,
    WORKER_ID,
    create_task,
    fetch,
    logs,
    new_process_instance_id,
    raises,
    start_parallel_process,
)

Q = ExternalTaskQuery

NO_PROPERTY = (
    "You should call any of the orderBy methods first before specifying a direction: currentOrderingProperty is null"
)
TWO_DIRECTIONS = (
    "Invalid query: can specify only one direction desc() or asc() for an ordering constraint: direction is not null"
)


def start_instances(service, count: int, **fields) -> list:
    """``count`` instances of a one-task process, in one save."""
    fields.setdefault("process_definition_key", ONE_TASK_PROCESS)
    fields.setdefault("process_definition_id", f"{fields['process_definition_key']}:1:1")
    fields.setdefault("activity_id", "externalTask")
    return service.create_many(
        [
            NewExternalTask(topic_name=TOPIC_NAME, process_instance_id=new_process_instance_id(), **fields)
            for _ in range(count)
        ]
    )


def lock(service, count: int, lock_time: int = 10_000, worker: str = WORKER_ID, topic: str = TOPIC_NAME):
    return fetch(service, worker, topic, lock_time, max_tasks=count)


def ids_of(tasks) -> list[str]:
    return [task.id for task in tasks]


class TestListAndCount:
    def test_single_result(self, service):
        """A query result carries the task's process, activity and lock attributes."""
        created = create_task(service, business_key="theUltimateKey", process_definition_version_tag="1.2.3.4")

        [task] = service.query_tasks(Q())

        assert task == created
        assert task.activity_id == "externalTask"
        assert task.process_definition_key == ONE_TASK_PROCESS
        assert task.topic_name == TOPIC_NAME
        assert task.activity_instance_id and task.execution_id
        assert (task.worker_id, task.lock_expiration_time, task.suspended) == (None, None, False)
        assert task.business_key == "theUltimateKey"
        assert task.process_definition_version_tag == "1.2.3.4"

    def test_list_and_count(self, service):
        start_instances(service, 5)

        assert len(service.query_tasks(Q())) == 5
        assert service.count_tasks(Q()) == 5

    def test_default_order_is_by_id(self, service):
        start_instances(service, 5)

        assert ids_of(service.query_tasks(Q())) == sorted(ids_of(service.query_tasks(Q())))

    def test_paging(self, service):
        """firstResult and maxResults page through the default order; either alone leaves the other open."""
        start_instances(service, 5)
        all_ids = ids_of(service.query_tasks(Q()))

        assert ids_of(service.query_tasks(Q(), Page(1, 2))) == all_ids[1:3]
        assert ids_of(service.query_tasks(Q(), Page(first_result=3))) == all_ids[3:]
        assert ids_of(service.query_tasks(Q(), Page(max_results=2))) == all_ids[:2]
        assert service.query_tasks(Q(), Page(0, 0)) == []


class TestLockState:
    def test_query_by_lock_state(self, service):
        """locked: a lock expiring after now; notLocked: no lock, or an expired one."""
        start_instances(service, 5)
        lock(service, 3)

        locked = service.query_tasks(Q(locked=True))
        not_locked = service.query_tasks(Q(not_locked=True))

        assert len(locked) == 3 and all(t.lock_expiration_time is not None for t in locked)
        assert len(not_locked) == 2 and all(t.lock_expiration_time is None for t in not_locked)

    def test_a_lock_expiring_now_is_neither_locked_nor_not_locked(self, service, clock):
        """Both bounds are strict: at the instant of expiry the task is in neither set (spec 2.1)."""
        start_instances(service, 1)
        lock(service, 1, lock_time=5_000)

        clock.advance(milliseconds=5_000)
        assert (service.count_tasks(Q(locked=True)), service.count_tasks(Q(not_locked=True))) == (0, 0)

        clock.advance(milliseconds=1)
        assert (service.count_tasks(Q(locked=True)), service.count_tasks(Q(not_locked=True))) == (0, 1)

    def test_locked_and_not_locked_together_match_nothing(self, service):
        start_instances(service, 2)
        lock(service, 1)

        assert service.count_tasks(Q(locked=True, not_locked=True)) == 0

    def test_query_by_worker_id(self, service):
        """workerId matches the last locker, also once the lock has expired."""
        start_instances(service, 10)
        lock(service, 3, worker="worker1")
        lock(service, 4, worker="worker2")

        tasks = service.query_tasks(Q(worker_id="worker1"))

        assert len(tasks) == 3 and {t.worker_id for t in tasks} == {"worker1"}

    def test_worker_id_matches_an_expired_lock(self, service, clock):
        start_instances(service, 1)
        lock(service, 1, lock_time=1_000, worker="worker1")
        clock.advance(milliseconds=2_000)

        assert service.count_tasks(Q(worker_id="worker1", not_locked=True)) == 1

    def test_query_by_lock_expiration_time(self, service, clock):
        """lockExpirationBefore/After are strict bounds."""
        start_instances(service, 10)
        lock(service, 3, lock_time=5_000)
        lock(service, 4, lock_time=10_000)
        lock_date = clock.now + timedelta(milliseconds=7_000)

        before = service.query_tasks(Q(lock_expiration_before=lock_date))
        after = service.query_tasks(Q(lock_expiration_after=lock_date))

        assert len(before) == 3 and all(t.lock_expiration_time < lock_date for t in before)
        assert len(after) == 4 and all(t.lock_expiration_time > lock_date for t in after)

    def test_lock_expiration_bounds_exclude_the_bound_itself(self, service, clock):
        start_instances(service, 1)
        lock(service, 1, lock_time=5_000)
        expiry = clock.now + timedelta(milliseconds=5_000)

        assert service.count_tasks(Q(lock_expiration_before=expiry)) == 0
        assert service.count_tasks(Q(lock_expiration_after=expiry)) == 0
        assert service.count_tasks(Q(lock_expiration_before=expiry + timedelta(milliseconds=1))) == 1
        assert service.count_tasks(Q(lock_expiration_after=expiry - timedelta(milliseconds=1))) == 1


class TestFilters:
    def test_query_by_process_definition_id(self, service):
        start_instances(service, 3, process_definition_id=f"{ONE_TASK_PROCESS}:1:1")
        start_instances(service, 2, process_definition_id=f"{ONE_TASK_PROCESS}:2:2")

        first = service.query_tasks(Q(process_definition_id=f"{ONE_TASK_PROCESS}:1:1"))
        second = service.query_tasks(Q(process_definition_id=f"{ONE_TASK_PROCESS}:2:2"))

        assert len(first) == 3 and {t.process_definition_id for t in first} == {f"{ONE_TASK_PROCESS}:1:1"}
        assert len(second) == 2 and {t.process_definition_id for t in second} == {f"{ONE_TASK_PROCESS}:2:2"}

    def test_query_by_activity_id_and_topic_name(self, service):
        for _ in range(3):
            start_parallel_process(service)

        assert {t.activity_id for t in service.query_tasks(Q(activity_id="externalTask2"))} == {"externalTask2"}
        assert service.count_tasks(Q(activity_id="externalTask2")) == 3
        assert service.count_tasks(Q(activity_id_in=["externalTask1", "externalTask2"])) == 6
        assert {t.topic_name for t in service.query_tasks(Q(topic_name="topic1"))} == {"topic1"}
        assert service.count_tasks(Q(topic_name="topic1")) == 3

    def test_query_by_process_instance_and_execution(self, service):
        tasks = start_instances(service, 3)
        first = tasks[0]

        assert service.query_tasks(Q(process_instance_id=first.process_instance_id)) == [first]
        assert service.query_tasks(Q(execution_id=first.execution_id)) == [first]
        assert service.count_tasks(
            Q(process_instance_id_in=[tasks[0].process_instance_id, tasks[1].process_instance_id])
        ) == 2
        assert service.count_tasks(Q(process_instance_id_in=["nonExisting"])) == 0

    def test_query_by_a_large_list_of_process_instance_ids(self, service):
        """More than 1000 ids work (Oracle's IN-list limit in Camunda; any limit here)."""
        tasks = start_instances(service, 1001)
        instance_ids = [t.process_instance_id for t in tasks]

        found = service.query_tasks(Q(process_instance_id_in=instance_ids))

        assert len(found) == 1001 and {t.process_instance_id for t in found} == set(instance_ids)

    def test_query_by_id_and_ids(self, service):
        tasks = start_instances(service, 3)

        assert service.query_tasks(Q(external_task_id=tasks[0].id)) == [tasks[0]]
        assert service.count_tasks(Q(external_task_id_in=[tasks[0].id, tasks[1].id])) == 2

    def test_query_by_suspension_state(self, service):
        tasks = start_instances(service, 5)
        for task in tasks[:3]:
            service.suspend_process_instance(task.process_instance_id)

        suspended = service.query_tasks(Q(suspended=True))
        active = service.query_tasks(Q(active=True))

        assert len(suspended) == 3 and all(t.suspended for t in suspended)
        assert len(active) == 2 and not any(t.suspended for t in active)
        assert service.count_tasks(Q(active=True, suspended=True)) == 3  # the second flag wins

    def test_query_by_retries(self, service):
        """withRetriesLeft: retries null or > 0; noRetriesLeft: retries 0."""
        start_instances(service, 5)
        locked = lock(service, 3)
        for task in locked[:2]:
            service.handle_failure(task.task.id, WORKER_ID, error_message="error", retries=0, retry_timeout=5_000)
        service.handle_failure(locked[2].task.id, WORKER_ID, error_message="error", retries=4, retry_timeout=5_000)

        with_retries = service.query_tasks(Q(with_retries_left=True))
        without = service.query_tasks(Q(no_retries_left=True))

        assert len(with_retries) == 3 and all(t.retries is None or t.retries > 0 for t in with_retries)
        assert len(without) == 2 and all(t.retries == 0 for t in without)
        assert service.count_tasks(Q(with_retries_left=True, no_retries_left=True)) == 2  # the second flag wins

    def test_query_by_process_definition_key(self, service):
        assert service.count_tasks(Q(process_definition_key=ONE_TASK_PROCESS)) == 0
        assert service.count_tasks(Q(process_definition_key_in=[ONE_TASK_PROCESS])) == 0

        start_instances(service, 1)

        assert service.count_tasks(Q(process_definition_key=ONE_TASK_PROCESS)) == 1
        assert service.count_tasks(Q(process_definition_key_in=[ONE_TASK_PROCESS, "other"])) == 1

    def test_process_definition_names_match_nothing(self, service):
        """extask's process definitions have no names: the name filters are accepted and match nothing."""
        start_instances(service, 1)

        assert service.count_tasks(Q(process_definition_name="One external task process")) == 0
        assert service.count_tasks(Q(process_definition_name_like="%")) == 0

    def test_query_by_tenant_ids(self, service):
        start_instances(service, 2, tenant_id="tenant1")
        start_instances(service, 1, tenant_id="tenant2")
        start_instances(service, 1)

        assert service.count_tasks(Q(tenant_id_in=["tenant1"])) == 2
        assert service.count_tasks(Q(tenant_id_in=["tenant1", "tenant2"])) == 3

    def test_empty_lists_are_no_filter(self, service):
        start_instances(service, 2)

        assert service.count_tasks(Q(activity_id_in=[], process_instance_id_in=[], tenant_id_in=[])) == 2

    @pytest.mark.parametrize(
        ("criteria", "message", "camunda_type"),
        [
            ({"activity_id_in": [None]}, "activityIdIn contains null value", "NullValueException"),
            ({"process_instance_id_in": [None]}, "processInstanceIdIn contains null value", "NullValueException"),
            ({"tenant_id_in": ["t", None]}, "tenantIds contains null value", "NullValueException"),
            ({"external_task_id_in": []}, "Set of external task ids is empty", "ProcessEngineException"),
        ],
    )
    def test_invalid_criteria_are_refused(self, service, criteria, message, camunda_type):
        with raises(BadRequest, message, camunda_type):
            service.query_tasks(Q(**criteria))
        with raises(BadRequest, message, camunda_type):
            service.count_tasks(Q(**criteria))


class TestPriorityFilters:
    """ExternalTaskQueryByPriorityTest: five instances of a two-task process, priorities i and 0."""

    @pytest.fixture
    def instances(self, service):
        instances = []
        for i in range(5):
            instance_id = new_process_instance_id()
            service.create_many(
                [
                    NewExternalTask(topic_name=TOPIC_NAME, process_instance_id=instance_id, priority=i,
                                    activity_id="externalTaskWithPrio"),
                    NewExternalTask(topic_name=TOPIC_NAME, process_instance_id=instance_id,
                                    activity_id="externalTaskWithoutPrio"),
                ]
            )
            instances.append(instance_id)
        return instances

    def test_order_by_priority(self, service, instances):
        ascending = service.query_tasks(Q(sorting=[("taskPriority", "asc")]))
        descending = service.query_tasks(Q(sorting=[("taskPriority", "desc")]))

        assert [t.priority for t in ascending] == [0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
        assert [t.priority for t in descending] == [4, 3, 2, 1, 0, 0, 0, 0, 0, 0]

    def test_lower_than_or_equals(self, service, instances):
        tasks = service.query_tasks(Q(priority_lower_than_or_equals=2))

        assert len(tasks) == 8 and all(t.priority <= 2 for t in tasks)

    def test_higher_than_or_equals(self, service, instances):
        tasks = service.query_tasks(Q(priority_higher_than_or_equals=2))

        assert len(tasks) == 3 and {t.process_instance_id for t in tasks} == set(instances[2:])

    def test_both_bounds_inclusive(self, service, instances):
        [task] = service.query_tasks(Q(priority_higher_than_or_equals=2, priority_lower_than_or_equals=2))

        assert (task.priority, task.process_instance_id) == (2, instances[2])
        assert service.count_tasks(Q(priority_higher_than_or_equals=2, priority_lower_than_or_equals=3)) == 2

    def test_an_inverted_range_matches_nothing(self, service, instances):
        assert service.count_tasks(Q(priority_lower_than_or_equals=2, priority_higher_than_or_equals=3)) == 0


def expected_order(tasks, attribute: str, order: str) -> list[str]:
    """Ids sorted by one attribute with NULLs after every value, ties by id ascending."""
    by_id = sorted(tasks, key=lambda t: t.id)
    present = [t for t in by_id if getattr(t, attribute) is not None]
    missing = [t for t in by_id if getattr(t, attribute) is None]
    present.sort(key=lambda t: getattr(t, attribute), reverse=order == "desc")
    return ids_of(present + missing if order == "asc" else missing + present)


class TestSorting:
    SORTABLE = {
        "id": "id", "processInstanceId": "process_instance_id", "processDefinitionId": "process_definition_id",
        "processDefinitionKey": "process_definition_key", "lockExpirationTime": "lock_expiration_time",
        "tenantId": "tenant_id", "taskPriority": "priority", "createTime": "create_time",
    }

    @pytest.fixture
    def tasks(self, service, clock):
        """Ten tasks of two definitions and tenants (one without), created a second apart, with
        priorities and locks of two lengths on eight of them."""
        for i in range(10):
            key = ONE_TASK_PROCESS if i % 2 else "twoExternalTaskProcess"
            create_task(service, process_definition_key=key, priority=i % 3,
                        tenant_id=None if i == 0 else f"tenant{i % 2}")
            clock.advance(milliseconds=1_000)
        lock(service, 4, lock_time=5_000)
        lock(service, 4, lock_time=10_000)
        return service.query_tasks(Q())

    @pytest.mark.parametrize("order", ["asc", "desc"])
    @pytest.mark.parametrize("sort_by", list(SORTABLE))
    def test_query_sorting(self, service, tasks, sort_by, order):
        result = service.query_tasks(Q(sorting=[(sort_by, order)]))

        assert ids_of(result) == expected_order(tasks, self.SORTABLE[sort_by], order)

    def test_multi_level_sorting(self, service, tasks):
        result = service.query_tasks(Q(sorting=[("processDefinitionKey", "asc"), ("taskPriority", "desc")]))

        expected = sorted(sorted(tasks, key=lambda t: t.id), key=lambda t: (t.process_definition_key, -t.priority))
        assert ids_of(result) == ids_of(expected)

    def test_an_unknown_sort_key_is_skipped(self, service, tasks):
        """As Camunda's REST layer does with a ``sorting`` entry it does not know."""
        assert ids_of(service.query_tasks(Q(sorting=[("unknown", None)]))) == sorted(ids_of(tasks))

    @pytest.mark.parametrize(
        ("sorting", "message"),
        [
            ([("createTime", None)], "Invalid query: call asc() or desc() after using orderByXX(): direction is null"),
            ([("createTime", "DESC")], "Invalid query: call asc() or desc() after using orderByXX(): direction is null"),
            ([(None, "asc")], NO_PROPERTY),
            ([("unknown", "asc")], NO_PROPERTY),
            ([("id", "asc"), (None, "desc")], TWO_DIRECTIONS),
        ],
    )
    def test_invalid_sorting_is_refused(self, service, sorting, message):
        with raises(BadRequest, message, "NotValidException"):
            service.query_tasks(Q(sorting=sorting))
        with raises(BadRequest, message, "NotValidException"):
            service.count_tasks(Q(sorting=sorting))


class TestCreateTime:
    """ExternalTaskQueryByCreateTimeTest: four processes with one task each, priorities 4, 3, 0, 0."""

    PRIORITIES = {"task1": 4, "task2": 3, "task3": 0, "task4": 0}

    def start(self, service, clock, activity: str, minutes_later: int = 1) -> None:
        clock.advance(minutes=minutes_later)
        create_task(service, topic=f"topic{activity[-1]}", activity_id=activity, priority=self.PRIORITIES[activity],
                    process_definition_key=f"process{activity[-1]}")

    def activities(self, service, *sorting) -> list[str]:
        return [t.activity_id for t in service.query_tasks(Q(sorting=list(sorting)))]

    def test_should_have_non_null_create_time(self, service, clock):
        self.start(service, clock, "task1")

        [task] = service.query_tasks(Q())
        assert task.create_time == clock.now

    def test_should_produce_event_with_create_time_value(self, service, clock):
        """The creation log's timestamp is the task's createTime."""
        self.start(service, clock, "task1")

        [task] = service.query_tasks(Q())
        [log] = logs(service)
        assert log.timestamp == task.create_time

    @pytest.mark.parametrize("order", ["asc", "desc"])
    def test_should_return_tasks_in_create_time_order(self, service, clock, order):
        self.start(service, clock, "task1")
        self.start(service, clock, "task2")

        result = service.query_tasks(Q(sorting=[("createTime", order)]))

        times = [t.create_time for t in result]
        assert times == sorted(times, reverse=order == "desc") and times[0] != times[1]

    def test_create_time_asc_on_priority_equality(self, service, clock):
        for activity in ("task1", "task2", "task3", "task4"):
            self.start(service, clock, activity)

        assert self.activities(service, ("taskPriority", "desc"), ("createTime", "asc")) == [
            "task1", "task2", "task3", "task4"
        ]

    def test_create_time_desc_on_priority_equality(self, service, clock):
        for activity in ("task1", "task2", "task3", "task4"):
            self.start(service, clock, activity)

        assert self.activities(service, ("taskPriority", "desc"), ("createTime", "desc")) == [
            "task1", "task2", "task4", "task3"
        ]

    @pytest.mark.parametrize(("order", "expected"), [("asc", ["task2", "task1"]), ("desc", ["task1", "task2"])])
    def test_priority_on_create_time_equality(self, service, clock, order, expected):
        self.start(service, clock, "task1")
        self.start(service, clock, "task2", minutes_later=0)
        self.start(service, clock, "task3")
        self.start(service, clock, "task4")

        assert self.activities(service, ("createTime", "asc"), ("taskPriority", order)) == [
            *expected, "task3", "task4"
        ]


class TestTopicNames:
    """ExternalTaskServiceTest 5.1 #167-#170, on the parallel process with topics 1-3."""

    # 5.1 #167
    def test_get_topic_names_with_locked_tasks(self, service):
        start_parallel_process(service)
        fetch(service, topic_name="topic1")

        assert service.topic_names(with_locked_tasks=True) == ["topic1"]

    # 5.1 #168
    def test_get_topic_names_with_unlocked_tasks(self, service):
        start_parallel_process(service)
        fetch(service, topic_name="topic1")

        assert service.topic_names(with_unlocked_tasks=True) == ["topic2", "topic3"]

    # 5.1 #169
    def test_get_topic_names_with_retries(self, service):
        tasks = {t.topic_name: t for t in start_parallel_process(service)}
        service.set_retries(tasks["topic1"].id, 3)
        service.set_retries(tasks["topic2"].id, 0)
        service.set_retries(tasks["topic3"].id, 0)

        assert service.topic_names(with_retries_left=True) == ["topic1"]

    # 5.1 #170
    def test_get_topic_names_is_distinct(self, service):
        start_parallel_process(service)
        start_parallel_process(service)

        assert service.topic_names() == ["topic1", "topic2", "topic3"]

    def test_locked_and_unlocked_together_select_nothing(self, service):
        start_parallel_process(service)
        fetch(service, topic_name="topic1")

        assert service.topic_names(with_locked_tasks=True, with_unlocked_tasks=True) == []

    def test_an_expired_lock_counts_as_unlocked(self, service, clock):
        start_parallel_process(service, topics=("topic1",))
        fetch(service, topic_name="topic1", lock=1_000)
        clock.advance(milliseconds=1_001)

        assert service.topic_names(with_locked_tasks=True) == []
        assert service.topic_names(with_unlocked_tasks=True) == ["topic1"]
