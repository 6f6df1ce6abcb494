"""Priority: set at creation or by setPriority; with usePriority fetch takes higher first, then the
createTime order if requested (spec 2.4 sorting, 3.3, 3.13).

Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #3-#10, #16, #17, #118-#122).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from extask.application.errors import BadRequest, NotFound

from .helpers import (
    ANOTHER_WORKER_ID,
    LOCK_TIME,
    PRIORITY_PROCESS,
    TOPIC_NAME,
    WORKER_ID,
    create_task,
    fetch,
    fetch_one,
    raises,
)


def two_task_priority_process(service):
    """Camunda's twoExternalTaskWithPriorityProcess: one task of priority 7, one of priority 0."""
    instance = "pi-prio"
    high = create_task(service, process_instance_id=instance, process_definition_key=PRIORITY_PROCESS,
                       activity_id="externalTaskWithPrio", priority=7)
    low = create_task(service, process_instance_id=instance, process_definition_key=PRIORITY_PROCESS,
                      activity_id="externalTaskWithoutPrio")
    return high, low


@pytest.fixture
def created_over_time(service, clock):
    """Four tasks one second apart: priorities 7, 0, 7, 0 (oldest first)."""
    tasks = []
    for priority in (7, 0, 7, 0):
        tasks.append(create_task(service, priority=priority))
        clock.advance(milliseconds=1000)
    return tasks


class TestPriority:
    # 5.1 #3
    def test_fetch_with_priority(self, service, clock):
        """A priority fetch of one task returns the priority-7 task with all its metadata."""
        high, _ = two_task_priority_process(service)

        locked = fetch(service, use_priority=True)

        assert len(locked) == 1
        task = locked[0].task
        assert task.id == high.id
        assert task.process_instance_id == "pi-prio"
        assert task.process_definition_id == high.process_definition_id
        assert task.activity_id == "externalTaskWithPrio"
        assert task.process_definition_key == PRIORITY_PROCESS
        assert task.topic_name == TOPIC_NAME
        assert task.priority == 7
        assert task.activity_instance_id == high.activity_instance_id
        assert task.execution_id == high.execution_id
        assert task.lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)
        assert task.worker_id == WORKER_ID

    # 5.1 #4
    def test_should_fetch_with_create_time_desc_and_priority(self, service, created_over_time):
        """usePriority + createTime desc: the priority-7 tasks first, each priority group newest first."""
        t = created_over_time

        locked = fetch(service, max_tasks=4, use_priority=True, sorting=[("createTime", "desc")])

        assert [x.task.id for x in locked] == [t[2].id, t[0].id, t[3].id, t[1].id]

    # 5.1 #5
    def test_should_fetch_with_create_time_asc_and_priority(self, service, created_over_time):
        """usePriority + createTime asc: the priority-7 tasks first, each priority group oldest first."""
        t = created_over_time

        locked = fetch(service, max_tasks=4, use_priority=True, sorting=[("createTime", "asc")])

        assert [x.task.id for x in locked] == [t[0].id, t[2].id, t[1].id, t[3].id]

    # 5.1 #6
    def test_should_fetch_with_create_time_asc_without_priority(self, service, created_over_time):
        """createTime asc alone: oldest first regardless of priority."""
        locked = fetch(service, max_tasks=4, sorting=[("createTime", "asc")])

        assert [x.task.id for x in locked] == [t.id for t in created_over_time]
        assert [x.task.create_time for x in locked] == sorted(x.task.create_time for x in locked)

    # 5.1 #7
    def test_should_fetch_with_create_time_desc_without_priority(self, service, created_over_time):
        """createTime desc alone: newest first regardless of priority."""
        locked = fetch(service, max_tasks=4, sorting=[("createTime", "desc")])

        assert [x.task.id for x in locked] == [t.id for t in reversed(created_over_time)]

    def test_fetch_with_create_time_limits_to_the_oldest(self, service, created_over_time):
        """With createTime asc and maxTasks 2 the two oldest tasks are locked (FIFO)."""
        locked = fetch(service, max_tasks=2, sorting=[("createTime", "asc")])

        assert [x.task.id for x in locked] == [t.id for t in created_over_time[:2]]

    # 5.1 #8
    def test_should_ignore_create_ordering_when_create_time_is_not_configured(self, service, created_over_time):
        """usePriority without createTime sorting orders by priority only."""
        locked = fetch(service, max_tasks=4, use_priority=True)

        assert [x.task.priority for x in locked] == [7, 7, 0, 0]

    # 5.1 #9
    def test_should_ignore_create_time_config_when_order_is_null(self, service, created_over_time):
        """usePriority with an explicitly empty sorting list is priority-desc only (Camunda's legacy call)."""
        locked = fetch(service, max_tasks=4, use_priority=True, sorting=[])

        assert [x.task.priority for x in locked] == [7, 7, 0, 0]

    # 5.1 #10
    def test_should_throw_exception_on_subscribe_with_invalid_order_config(self, service, task):
        """Sorting by createTime without a direction is refused: 'direction is null'."""
        with raises(
            BadRequest,
            "Invalid query: call asc() or desc() after using orderByXX(): direction is null",
            "NotValidException",
        ):
            fetch(service, sorting=[("createTime", None)])

    @pytest.mark.parametrize("sort_by", ["priority", "id", ""])
    def test_fetch_sorting_by_anything_but_create_time_is_refused(self, service, sort_by):
        """Only createTime can be a fetch sorting: 'Cannot set query sortBy parameter to value <v>' (spec 2.4)."""
        with raises(BadRequest, f"Cannot set query sortBy parameter to value {sort_by}", "InvalidRequestException"):
            fetch(service, sorting=[(sort_by, "asc")])

    @pytest.mark.parametrize("sort_order", ["DESC", "", " ", "up"])
    def test_fetch_sorting_order_must_be_lower_case_asc_or_desc(self, service, sort_order):
        """The direction is 'asc' or 'desc' exactly: 'Cannot set query sortOrder parameter to value <v>' (spec 2.4)."""
        with raises(
            BadRequest, f"Cannot set query sortOrder parameter to value {sort_order}", "InvalidRequestException"
        ):
            fetch(service, sorting=[("createTime", sort_order)])

    # 5.1 #16
    def test_fetch_with_priority_ordering(self, service):
        """A priority fetch of two returns them in descending priority."""
        two_task_priority_process(service)

        locked = fetch(service, max_tasks=2, use_priority=True)

        assert [x.task.priority for x in locked] == [7, 0]

    # 5.1 #17
    def test_fetch_next_with_priority(self, service, clock):
        """The highest priority is locked first, the next worker gets the next; after expiry the highest is back."""
        two_task_priority_process(service)

        first = fetch_one(service, use_priority=True)
        assert first.task.lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)
        second = fetch_one(service, ANOTHER_WORKER_ID, use_priority=True)
        assert first.task.priority >= second.task.priority

        clock.advance(milliseconds=LOCK_TIME * 2)
        again = fetch_one(service, use_priority=True)
        assert again.task.priority == first.task.priority

    def test_priority_defaults_to_zero_and_may_be_negative(self, service):
        """Priority is 0 unless given; negative priorities are allowed and sort last."""
        default = create_task(service)
        negative = create_task(service, priority=-5)

        assert service.get_task(default.id).priority == 0
        locked = fetch(service, max_tasks=2, use_priority=True)
        assert [x.task.id for x in locked] == [default.id, negative.id]

    # 5.1 #118
    def test_set_priority(self, service, task):
        """setPriority changes the task's priority."""
        fetch(service, max_tasks=5)

        service.set_priority(task.id, 5)

        assert service.get_task(task.id).priority == 5

    # 5.1 #119
    def test_set_priority_non_existing_task(self, service):
        """Setting the priority of an unknown task is 'not found'."""
        with raises(NotFound, "External task with id someExternalTaskId does not exist", "RestException"):
            service.set_priority("someExternalTaskId", 5)

    # 5.1 #120
    def test_set_priority_null_task_id(self, service):
        """Setting the priority without a task id is refused: 'externalTaskId is null'."""
        with raises(BadRequest, "externalTaskId is null", "NullValueException"):
            service.set_priority(None, 5)  # type: ignore[arg-type]

    # 5.1 #121
    def test_after_set_priority_fetch_higher_task(self, service, clock):
        """Raising a locked task's priority makes it first in a later priority fetch."""
        two_task_priority_process(service)
        locked = fetch(service, max_tasks=2, use_priority=True)
        low = locked[1].task
        assert low.priority == 0

        service.set_priority(low.id, 9)
        clock.advance(milliseconds=LOCK_TIME * 2)

        again = fetch_one(service, ANOTHER_WORKER_ID, use_priority=True)
        assert (again.task.id, again.task.priority) == (low.id, 9)

    # 5.1 #122
    def test_set_priority_lock_expired_task(self, service, clock, task):
        """The priority of a task whose lock expired can be changed and is then honoured."""
        fetch(service)
        clock.advance(milliseconds=LOCK_TIME * 2)

        service.set_priority(task.id, 9)

        assert fetch_one(service, use_priority=True).task.priority == 9

    def test_set_priority_does_not_touch_the_lock(self, service, locked):
        """Changing the priority of a locked task affects only future fetches."""
        service.set_priority(locked.task.id, 3)

        task = service.get_task(locked.task.id)
        assert (task.worker_id, task.lock_expiration_time) == (WORKER_ID, locked.task.lock_expiration_time)
        assert fetch(service, ANOTHER_WORKER_ID, use_priority=True) == []
