"""Fetch and lock: which tasks a worker gets, what it sees, and how they are locked (spec 3.2, 3.3).

Ported from Camunda's ExternalTaskServiceTest (spec 5.1); numbers refer to that inventory.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic
from extask.application.errors import BadRequest
from extask.application.unit_of_work import UnitOfWork
from extask.infrastructure.bootstrap import build_engine

from .helpers import (
    ANOTHER_WORKER_ID,
    LOCK_TIME,
    ONE_TASK_PROCESS,
    PRIORITY_PROCESS,
    TOPIC_NAME,
    WORKER_ID,
    create_task,
    fetch,
    fetch_topics,
    ids,
    raises,
    start_parallel_process,
    topic,
)


class TestFetchAndLock:
    # 5.1 #2
    def test_fetch(self, service, clock):
        """A fetched task carries its process attributes and is locked by the worker until now + lockTime."""
        created = create_task(service, process_instance_id="pi-1", activity_instance_id="externalTask:1",
                              execution_id="exec-1")

        locked = fetch(service)

        assert len(locked) == 1
        task = locked[0].task
        assert task.id == created.id
        assert task.process_instance_id == "pi-1"
        assert task.process_definition_id == created.process_definition_id
        assert task.activity_id == "externalTask"
        assert task.process_definition_key == ONE_TASK_PROCESS
        assert task.topic_name == TOPIC_NAME
        assert task.activity_instance_id == "externalTask:1"
        assert task.execution_id == "exec-1"
        assert task.lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)
        assert task.worker_id == WORKER_ID
        # and the runtime task shows the same lock
        stored = service.get_task(created.id)
        assert (stored.worker_id, stored.lock_expiration_time) == (WORKER_ID, task.lock_expiration_time)

    # 5.1 #18
    def test_fetch_topic_selection(self, service):
        """Fetching one topic returns only tasks of that topic."""
        start_parallel_process(service, topics=("topic1", "topic2"))

        topic1_tasks = fetch(service, topic_name="topic1", max_tasks=5)
        topic2_tasks = fetch(service, topic_name="topic2", max_tasks=5)

        assert [t.task.topic_name for t in topic1_tasks] == ["topic1"]
        assert [t.task.topic_name for t in topic2_tasks] == ["topic2"]

    # 5.1 #19
    def test_fetch_without_topic_name(self, service, task):
        """A topic without a name is refused: 'topicName is null'."""
        with raises(BadRequest, "topicName is null", "NullValueException"):
            fetch_topics(service, FetchTopic(topic_name=None, lock_duration=LOCK_TIME))  # type: ignore[arg-type]

    # 5.1 #20
    def test_fetch_null_worker_id(self, service, task):
        """A fetch without a worker id is refused: 'workerId is null'."""
        with raises(BadRequest, "workerId is null", "NullValueException"):
            fetch(service, worker=None)  # type: ignore[arg-type]

    # 5.1 #21
    def test_fetch_negative_number_of_tasks(self, service, task):
        """maxTasks -1 is refused: 'maxResults is not greater than or equal to 0'."""
        with raises(BadRequest, "maxResults is not greater than or equal to 0", "ProcessEngineException"):
            fetch(service, max_tasks=-1)

    def test_fetch_zero_tasks_returns_nothing_and_locks_nothing(self, service, task):
        """maxTasks 0 always answers an empty list (spec 2.4) and leaves the task unlocked."""
        assert fetch(service, max_tasks=0) == []
        assert service.get_task(task.id).worker_id is None

    # 5.1 #22
    def test_fetch_less_tasks_than_exist(self, service):
        """With 10 tasks available and maxTasks 5, exactly 5 are locked."""
        for _ in range(10):
            create_task(service)

        assert len(fetch(service, max_tasks=5)) == 5

    def test_fetch_without_an_order_hands_out_the_oldest_free_tasks_first(self, service, clock):
        """Without usePriority or sorting, tasks come free-longest first and, among tasks never
        locked or unlocked, in the order they were created (their ids are random and say nothing)."""
        created = []
        for _ in range(12):
            created.append(create_task(service).id)
            clock.advance(1)

        assert ids(fetch(service, max_tasks=5)) == created[:5]
        service.unlock(created[2])
        assert ids(fetch(service, max_tasks=5)) == [created[2], *created[5:9]]

    # 5.1 #23
    def test_fetch_negative_lock_time(self, service, task):
        """A negative lock duration is refused: 'lockTime is not greater than 0'."""
        with raises(BadRequest, "lockTime is not greater than 0", "ProcessEngineException"):
            fetch(service, lock=-1)

    # 5.1 #24
    def test_fetch_zero_lock_time(self, service, task):
        """A zero lock duration is refused: 'lockTime is not greater than 0'."""
        with raises(BadRequest, "lockTime is not greater than 0", "ProcessEngineException"):
            fetch(service, lock=0)

    # 5.1 #25
    def test_fetch_no_topics(self, service, task):
        """A fetch without topics returns no tasks."""
        assert fetch_topics(service, max_tasks=1) == []

    # 5.1 #33
    def test_fetch_multiple_topics(self, service, clock):
        """Each task is locked for its own topic's duration; a later fetch gets the remaining topic3 task."""
        start_parallel_process(service)

        locked = fetch_topics(service, topic("topic1", LOCK_TIME), topic("topic2", LOCK_TIME * 2), max_tasks=5)

        assert len(locked) == 2
        by_topic = {t.task.topic_name: t.task for t in locked}
        assert by_topic["topic1"].lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)
        assert by_topic["topic2"].lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME * 2)

        locked = fetch_topics(
            service,
            topic("topic1", LOCK_TIME), topic("topic2", LOCK_TIME * 2), topic("topic3", LOCK_TIME * 3),
            max_tasks=5,
        )

        assert len(locked) == 1
        assert locked[0].task.topic_name == "topic3"
        assert locked[0].task.lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME * 3)

    # 5.1 #35
    def test_fetch_multiple_topics_max_tasks(self, service):
        """maxTasks caps the total across all topics (5 of 30), not the count per topic."""
        for _ in range(10):
            start_parallel_process(service)

        locked = fetch_topics(service, topic("topic1"), topic("topic2"), topic("topic3"), max_tasks=5)

        assert len(locked) == 5

    def test_same_topic_twice_uses_the_last_topic_block(self, service, clock):
        """When a topic is named twice only its last block counts (spec 2.4), here its lock duration."""
        create_task(service)

        locked = fetch_topics(service, topic(TOPIC_NAME, 1_000), topic(TOPIC_NAME, 5_000), max_tasks=5)

        assert len(locked) == 1
        assert locked[0].task.lock_expiration_time == clock.now + timedelta(milliseconds=5_000)

    # 5.1 #37
    def test_fetch_and_lock_with_initial_builder(self, service):
        """A fetch request can be built first and executed later; it sees tasks created in between."""
        request = FetchAndLockRequest(worker_id=WORKER_ID, max_tasks=1, topics=[topic()])
        create_task(service)

        assert len(service.fetch_and_lock(request)) == 1

    # 5.1 #38
    def test_fetch_by_process_definition_id(self, service):
        """A topic filtered by process definition id returns only that definition's task."""
        create_task(service, process_definition_key=ONE_TASK_PROCESS, process_definition_id="one:1:1")
        create_task(service, process_definition_key=PRIORITY_PROCESS, process_definition_id="two:1:2")

        locked = fetch(service, process_definition_id="two:1:2")

        assert [t.task.process_definition_id for t in locked] == ["two:1:2"]

    # 5.1 #39
    def test_fetch_by_process_definition_id_combination(self, service):
        """A definition filter on one topic does not restrict the other topic."""
        start_parallel_process(service, business_key="testBusinessKey1", process_definition_id="parallel:1:1")
        start_parallel_process(service, business_key="testBusinessKey2", process_definition_id="parallel:2:2")

        locked = fetch_topics(
            service,
            topic("topic1", 60_000),
            topic("topic2", 60_000, process_definition_id="parallel:2:2"),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert len(locked) == 3
        assert sorted(t.task.process_definition_id for t in locked if t.task.topic_name == "topic1") == [
            "parallel:1:1", "parallel:2:2",
        ]
        assert [t.task.process_definition_id for t in locked if t.task.topic_name == "topic2"] == ["parallel:2:2"]

    # 5.1 #40
    def test_fetch_by_process_definition_id_in(self, service):
        """Filters inside one topic are AND-ed: idIn+key, id+businessKey match; id+unknown keyIn matches nothing."""
        for n in (1, 2, 3):
            start_parallel_process(service, business_key=f"testBusinessKey{n}",
                                   process_definition_id=f"parallel:{n}:{n}")

        locked = fetch_topics(
            service,
            topic("topic1", 60_000, process_definition_id_in=["parallel:1:1"],
                  process_definition_key="parallelExternalTaskProcess"),
            topic("topic2", 60_000, process_definition_id="parallel:2:2", business_key="testBusinessKey2"),
            topic("topic3", 60_000, process_definition_id="parallel:3:3", process_definition_key_in=["unexisting"]),
            worker="externalWorkerId",
            max_tasks=2,
        )

        assert sorted((t.task.topic_name, t.task.process_definition_id) for t in locked) == [
            ("topic1", "parallel:1:1"), ("topic2", "parallel:2:2"),
        ]

    # 5.1 #41
    def test_fetch_by_process_definition_ids(self, service):
        """processDefinitionId and processDefinitionIdIn with disjoint values select nothing (AND)."""
        create_task(service, process_definition_id="one:1:1")
        create_task(service, process_definition_key=PRIORITY_PROCESS, process_definition_id="two:1:2")

        assert fetch(service, process_definition_id="two:1:2", process_definition_id_in=["one:1:1"]) == []

    # 5.1 #42
    def test_fetch_by_process_definition_key(self, service):
        """A topic filtered by definition key returns only tasks of that key."""
        create_task(service, process_definition_key=ONE_TASK_PROCESS)
        create_task(service, process_definition_key=PRIORITY_PROCESS)

        locked = fetch(service, process_definition_key=PRIORITY_PROCESS)

        assert [t.task.process_definition_key for t in locked] == [PRIORITY_PROCESS]

    # 5.1 #43
    def test_fetch_by_process_definition_key_in(self, service):
        """A topic filtered by a list of definition keys returns only tasks of those keys."""
        create_task(service, process_definition_key=ONE_TASK_PROCESS)
        create_task(service, process_definition_key=PRIORITY_PROCESS)

        locked = fetch(service, process_definition_key_in=[PRIORITY_PROCESS])

        assert [t.task.process_definition_key for t in locked] == [PRIORITY_PROCESS]

    # 5.1 #44
    def test_fetch_by_process_definition_keys(self, service):
        """processDefinitionKey and processDefinitionKeyIn with disjoint values select nothing (AND)."""
        create_task(service, process_definition_key=ONE_TASK_PROCESS)
        create_task(service, process_definition_key=PRIORITY_PROCESS)

        assert fetch(service, process_definition_key=ONE_TASK_PROCESS,
                     process_definition_key_in=[PRIORITY_PROCESS]) == []

    # 5.1 #45
    def test_fetch_by_process_definition_id_and_key(self, service):
        """A multi-valued idIn matches; a topic whose idIn matches nothing adds nothing; unfiltered topics are unaffected."""
        for n in (1, 2, 3):
            start_parallel_process(service, business_key=f"testBusinessKey{n}",
                                   process_definition_id=f"parallel:{n}:{n}")

        locked = fetch_topics(
            service,
            topic("topic1", 60_000),
            topic("topic2", 60_000, process_definition_id_in=["parallel:2:2", "parallel:3:3"]),
            topic("topic3", 60_000, process_definition_id_in=["unexisting"]),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert len(locked) == 3
        assert all(t.task.topic_name in ("topic1", "topic2") for t in locked)
        assert all(
            t.task.process_definition_id in ("parallel:2:2", "parallel:3:3")
            for t in locked if t.task.topic_name == "topic2"
        )

    # 5.1 #46
    def test_fetch_without_tenant(self, service):
        """withoutTenantId matches tasks without a tenant only."""
        untenanted = create_task(service)
        create_task(service, tenant_id="tenant1")

        assert ids(fetch(service, max_tasks=5, without_tenant_id=True)) == [untenanted.id]

    def test_fetch_by_tenant_id_in(self, service):
        """tenantIdIn restricts a topic to the listed tenants and wins over withoutTenantId (spec 2.4)."""
        create_task(service)
        tenant1 = create_task(service, tenant_id="tenant1")
        create_task(service, tenant_id="tenant2")

        assert ids(fetch(service, max_tasks=5, tenant_id_in=["tenant1"], without_tenant_id=True)) == [tenant1.id]

    # 5.1 #88
    def test_locking(self, service, clock):
        """A locked task is not fetched again until its lock expires; then it is."""
        create_task(service)
        locked = fetch(service)
        assert locked[0].task.lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)

        assert fetch(service) == []

        clock.advance(milliseconds=LOCK_TIME * 2)
        assert len(fetch(service)) == 1

    def test_fetch_treats_a_lock_expiring_now_as_available(self, service, clock):
        """Fetch sees a task whose lock expires exactly now as available (lock <= now, spec 3.2)."""
        task = create_task(service)
        fetch(service)

        clock.advance(milliseconds=LOCK_TIME - 1)
        assert fetch(service, worker=ANOTHER_WORKER_ID) == []

        clock.advance(milliseconds=1)
        locked = fetch(service, worker=ANOTHER_WORKER_ID)
        assert ids(locked) == [task.id]
        assert locked[0].task.worker_id == ANOTHER_WORKER_ID
        assert locked[0].task.lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)

    def test_fetch_skips_tasks_without_retries_left(self, service):
        """A task whose retries are 0 is never fetched; one with retries > 0 is."""
        exhausted = create_task(service)
        retrying = create_task(service)
        service.set_retries(exhausted.id, 0)
        service.set_retries(retrying.id, 2)

        assert ids(fetch(service, max_tasks=5)) == [retrying.id]

    # 5.1 #158
    def test_query_by_business_key(self, service):
        """Per-topic business key filters; a topic with an unknown business key returns nothing."""
        start_parallel_process(service, business_key="testBusinessKey1")
        start_parallel_process(service, business_key="testBusinessKey2")

        locked = fetch_topics(
            service,
            topic("topic1", 60_000, business_key="testBusinessKey1"),
            topic("topic2", 60_000, business_key="testBusinessKey2"),
            topic("topic3", 60_000, business_key="fakeBusinessKey"),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert sorted((t.task.topic_name, t.task.business_key) for t in locked) == [
            ("topic1", "testBusinessKey1"), ("topic2", "testBusinessKey2"),
        ]

    # 5.1 #159
    def test_query_by_business_key_combination1(self, service):
        """A business key filter on topic1 only leaves topic2 unfiltered."""
        start_parallel_process(service, business_key="testBusinessKey1")
        start_parallel_process(service, business_key="testBusinessKey2")

        locked = fetch_topics(
            service,
            topic("topic1", 60_000, business_key="testBusinessKey1"),
            topic("topic2", 60_000),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert sorted((t.task.topic_name, t.task.business_key) for t in locked) == [
            ("topic1", "testBusinessKey1"), ("topic2", "testBusinessKey1"), ("topic2", "testBusinessKey2"),
        ]

    # 5.1 #160
    def test_query_by_business_key_combination2(self, service):
        """A business key filter on topic2 only leaves topic1 unfiltered."""
        start_parallel_process(service, business_key="testBusinessKey1")
        start_parallel_process(service, business_key="testBusinessKey2")

        locked = fetch_topics(
            service,
            topic("topic1", 60_000),
            topic("topic2", 60_000, business_key="testBusinessKey2"),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert sorted((t.task.topic_name, t.task.business_key) for t in locked) == [
            ("topic1", "testBusinessKey1"), ("topic1", "testBusinessKey2"), ("topic2", "testBusinessKey2"),
        ]

    # 5.1 #161
    def test_query_by_business_key_locking(self, service):
        """A second fetch only gets the not yet locked task that matches its filters."""
        start_parallel_process(service, business_key="testBusinessKey1")
        start_parallel_process(service, business_key="testBusinessKey2")

        first = fetch_topics(
            service,
            topic("topic1", 60_000, business_key="testBusinessKey1"),
            topic("topic2", 60_000, business_key="testBusinessKey2"),
            topic("topic3", 60_000, business_key="fakeBusinessKey"),
            worker="externalWorkerId",
            max_tasks=3,
        )
        second = fetch_topics(
            service,
            topic("topic1", 60_000, business_key="testBusinessKey1"),
            topic("topic2", 120_000, business_key="testBusinessKey2"),
            topic("topic3", 120_000, business_key="testBusinessKey1"),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert len(first) == 2
        assert [(t.task.topic_name, t.task.business_key) for t in second] == [("topic3", "testBusinessKey1")]

    # 5.1 #162
    def test_topic_query_by_variable_value(self, service):
        """A per-topic process variable filter selects the instance whose variable equals the value."""
        topics = ("testTopic1", "testTopic2")
        start_parallel_process(service, topics=topics, variables={"testVariable": "testValue1"})
        start_parallel_process(service, topics=topics, variables={"testVariable": "testValue2"})

        locked = fetch_topics(
            service,
            topic("testTopic1", 60_000, process_variables={"testVariable": "testValue1"}),
            topic("testTopic2", 60_000, process_variables={"testVariable": "testValue2"}),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert sorted((t.task.topic_name, t.variables["testVariable"].value) for t in locked) == [
            ("testTopic1", "testValue1"), ("testTopic2", "testValue2"),
        ]

    # 5.1 #163
    def test_topic_query_by_variable_value_locking(self, service):
        """Already locked tasks are excluded; only the match on the new topic is returned."""
        topics = ("testTopic1", "testTopic2", "testTopic3")
        start_parallel_process(service, topics=topics, variables={"testVariable": "testValue1"})
        start_parallel_process(service, topics=topics, variables={"testVariable": "testValue2"})

        first = fetch_topics(
            service,
            topic("testTopic1", 60_000, process_variables={"testVariable": "testValue1"}),
            topic("testTopic2", 60_000, process_variables={"testVariable": "testValue2"}),
            worker="externalWorkerId",
            max_tasks=3,
        )
        second = fetch_topics(
            service,
            topic("testTopic1", 120_000, process_variables={"testVariable": "testValue1"}),
            topic("testTopic2", 120_000, process_variables={"testVariable": "testValue2"}),
            topic("testTopic3", 60_000, process_variables={"testVariable": "testValue2"}),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert len(first) == 2
        assert [(t.task.topic_name, t.variables["testVariable"].value) for t in second] == [
            ("testTopic3", "testValue2"),
        ]

    # 5.1 #164
    def test_topic_query_by_variable_values(self, service):
        """Several variable filters on one topic select the right instances; a non-matching value selects none."""
        topics = ("testTopic1", "testTopic2", "testTopic3")
        start_parallel_process(service, topics=topics, variables={
            "testVariable1": "testValue1", "testVariable2": "testValue2", "testVariable3": "testValue3"})
        start_parallel_process(service, topics=topics, variables={
            "testVariable1": "testValue4", "testVariable2": "testValue5", "testVariable3": "testValue6"})

        locked = fetch_topics(
            service,
            topic("testTopic1", 60_000,
                  process_variables={"testVariable1": "testValue1", "testVariable2": "testValue2"}),
            topic("testTopic2", 60_000,
                  process_variables={"testVariable2": "testValue5", "testVariable3": "testValue6"}),
            topic("testTopic3", 60_000, process_variables={"testVariable1": "fakeVariableValue"}),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert len(locked) == 2
        by_topic = {t.task.topic_name: t.variables for t in locked}
        assert by_topic["testTopic1"]["testVariable1"].value == "testValue1"
        assert by_topic["testTopic1"]["testVariable2"].value == "testValue2"
        assert by_topic["testTopic2"]["testVariable2"].value == "testValue5"
        assert by_topic["testTopic2"]["testVariable3"].value == "testValue6"

    # 5.1 #165
    def test_topic_query_by_business_key_and_variable_value(self, service):
        """A business key and a variable filter on one topic are combined."""
        topics = ("testTopic1", "testTopic2", "testTopic3")
        start_parallel_process(service, topics=topics, business_key="testBusinessKey1",
                               variables={"testVariable1": "testValue1"})
        start_parallel_process(service, topics=topics, business_key="testBusinessKey2",
                               variables={"testVariable1": "testValue2"})

        locked = fetch_topics(
            service,
            topic("testTopic1", 60_000, business_key="testBusinessKey1",
                  process_variables={"testVariable1": "testValue1"}),
            topic("testTopic2", 60_000, business_key="testBusinessKey2",
                  process_variables={"testVariable1": "testValue2"}),
            topic("testTopic3", 60_000, business_key="fakeBusinessKey"),
            worker="externalWorkerId",
            max_tasks=3,
        )

        assert sorted(
            (t.task.topic_name, t.task.business_key, t.variables["testVariable1"].value) for t in locked
        ) == [("testTopic1", "testBusinessKey1", "testValue1"), ("testTopic2", "testBusinessKey2", "testValue2")]

    # 5.1 #166
    def test_fetch_and_lock_by_process_definition_version_tag(self, service):
        """A version tag filter returns only the tagged definition's task, with its tag."""
        create_task(service, process_definition_key=ONE_TASK_PROCESS)
        create_task(service, process_definition_key="testFetchAndLockByProcessDefinitionVersionTag",
                    process_definition_version_tag="version X.Y")

        locked = fetch(service, worker="workerID", lock=1_000, process_definition_version_tag="version X.Y")

        assert len(locked) == 1
        assert locked[0].task.process_definition_key == "testFetchAndLockByProcessDefinitionVersionTag"
        assert locked[0].task.process_definition_version_tag == "version X.Y"

    def test_version_tag_filter_is_a_like_pattern(self, service):
        """The version tag filter is an SQL LIKE pattern (spec 2.4): 'version %' matches 'version X.Y'."""
        tagged = create_task(service, process_definition_version_tag="version X.Y")
        create_task(service, process_definition_version_tag="other")
        create_task(service)

        assert ids(fetch(service, max_tasks=5, process_definition_version_tag="version %")) == [tagged.id]

    def test_process_variable_filters_of_one_topic_are_or_ed(self, service):
        """An instance qualifies if any one of the listed process variables matches (spec 2.4, 7.16)."""
        matching = create_task(service, variables={"a": 1, "b": 999})
        create_task(service, variables={"a": 2, "b": 3})

        assert ids(fetch(service, max_tasks=5, process_variables={"a": 1, "b": 2})) == [matching.id]

    def test_process_variable_filter_ignores_task_local_variables(self, service):
        """Only process-instance variables are matched, not the task's local ones (spec 2.4)."""
        create_task(service, local_variables={"region": "EU"})
        instance_level = create_task(service, variables={"region": "EU"})

        assert ids(fetch(service, max_tasks=5, process_variables={"region": "EU"})) == [instance_level.id]

    # 5.1 #171
    def test_fetch_and_lock_with_extension_properties_should_return_properties(self, service):
        """Requested extension properties are returned as a map."""
        create_task(service, extension_properties={"property1": "value1", "property2": "value2",
                                                   "property3": "value3"})

        locked = fetch(service, include_extension_properties=True)

        assert locked[0].extension_properties == {"property1": "value1", "property2": "value2",
                                                  "property3": "value3"}

    # 5.1 #172
    def test_fetch_and_lock_with_extension_properties_should_return_empty_map(self, service):
        """Requested extension properties of a task that has none are an empty map."""
        create_task(service)

        assert fetch(service, include_extension_properties=True)[0].extension_properties == {}

    # 5.1 #173
    def test_fetch_and_lock_without_extension_properties_should_return_empty_map(self, service):
        """Extension properties that were not requested are an empty map even when the task has some."""
        create_task(service, extension_properties={"property1": "value1"})

        assert fetch(service)[0].extension_properties == {}


class TestTasksOfAnotherProcess:
    """Another server process: a second engine on the same database, with a cache of its own."""

    @pytest.fixture
    def other(self, database_url, clock):
        engine = build_engine(database_url, clock=clock)
        yield engine
        engine.close()

    def test_tasks_it_created_are_read_in_one_query(self, service, engine, other, monkeypatch):
        """Fetching ten tasks this process has not cached reads their events in one query, not ten."""
        tasks = [create_task(other.service) for _ in range(10)]
        reads = []
        real = engine.event_store.recorder.select_events_of
        monkeypatch.setattr(
            engine.event_store.recorder, "select_events_of", lambda ids: reads.append(len(ids)) or real(ids)
        )
        assert {locked.task.id for locked in fetch(service, max_tasks=10)} == {task.id for task in tasks}
        assert reads == [10]


    def test_a_fetch_here_while_another_loads_its_candidates_gets_the_next_tasks(
        self, service, other, monkeypatch
    ):
        """The first fetch holds its ten candidates while it reads them from the event store; a
        second fetch meanwhile looks past them rather than finding all ten busy, five rounds over."""
        tasks = [create_task(other.service) for _ in range(20)]
        first_loading, second_done = threading.Event(), threading.Event()
        find_tasks = UnitOfWork.find_tasks

        def slow_first_load(self, task_ids):
            if threading.current_thread() is not threading.main_thread() and not first_loading.is_set():
                first_loading.set()
                second_done.wait(timeout=10)
            return find_tasks(self, task_ids)

        monkeypatch.setattr(UnitOfWork, "find_tasks", slow_first_load)
        first: list = []
        loader = threading.Thread(target=lambda: first.extend(fetch(service, max_tasks=10)))
        loader.start()
        first_loading.wait(timeout=10)
        try:
            second = fetch(service, ANOTHER_WORKER_ID, max_tasks=10)
        finally:
            second_done.set()
            loader.join()
        assert len(first) == 10
        # All the other ten, but those that share a command-lock stripe with one the first held.
        held = {service._command_lock(task_id) for task_id in ids(first)}
        rest = {task.id for task in tasks} - set(ids(first))
        assert set(ids(second)) == {task_id for task_id in rest if service._command_lock(task_id) not in held}
        assert ids(second)  # never none: before, it found all ten of its candidates busy
