"""Variables: process variables live on the process instance, local variables on the task; fetch
hands out both (local wins), or a named selection, or only local ones (spec 2.4, 3.3 step 7, 3.5).

Camunda's sub-process scope has no counterpart: extask has two scopes, instance and task.
Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #26, #29-#32, #34, #57, #155-#157).
"""

from __future__ import annotations

from extask.application.errors import BadRequest, Conflict
from extask.domain.variables import TypedValue

from .helpers import (
    LOCK_TIME,
    WORKER_ID,
    create_task,
    events_of,
    fetch,
    fetch_one,
    fetch_topics,
    raises,
    topic,
)


def values(variables):
    return {name: value.value for name, value in variables.items()}


def long(value: int) -> TypedValue:
    return TypedValue("Long", value)


class TestFetchVariables:
    # 5.1 #26
    def test_fetch_variables(self, service):
        """Named variables are gathered from the task and its process instance."""
        create_task(service, variables={"processVar1": 42, "processVar2": 43},
                    local_variables={"subProcessVar": long(44), "taskVar": long(45)})

        locked = fetch_one(service, variables=["processVar1", "subProcessVar", "taskVar"])

        assert locked.variables == {
            "processVar1": TypedValue("Integer", 42),
            "subProcessVar": TypedValue("Long", 44),
            "taskVar": TypedValue("Long", 45),
        }

    # 5.1 #29
    def test_fetch_only_local_variables(self, service):
        """By default global and local variables are fetched; with localVariables only the task's own."""
        task = create_task(service, topic="testTopic", variables={"globalVar": "globalVal"},
                           local_variables={"localVar": "localVal"})

        locked = fetch_one(service, "workerId", topic_name="testTopic", lock=60_000, max_tasks=10)
        assert values(locked.variables) == {"globalVar": "globalVal", "localVar": "localVal"}

        service.unlock(task.id)
        locked = fetch_one(service, "workerId", topic_name="testTopic", lock=60_000, max_tasks=10,
                           variables=["globalVar", "localVar"], local_variables=True)
        assert values(locked.variables) == {"localVar": "localVal"}

    # 5.1 #30
    def test_fetch_non_existing_local_variables(self, service):
        """A local-only fetch of names that are not local returns no variables."""
        create_task(service, topic="testTopic", variables={"globalVar": "globalVal"},
                    local_variables={"localVar": "localVal"})

        locked = fetch_one(service, "workerId", topic_name="testTopic", lock=60_000, max_tasks=10,
                           variables=["globalVar", "nonExistingLocalVar"], local_variables=True)

        assert locked.variables == {}

    # 5.1 #31
    def test_fetch_all_variables(self, service):
        """Without a variable list every visible variable is fetched (4 here)."""
        create_task(service, variables={"processVar1": 42, "processVar2": 43},
                    local_variables={"subProcessVar": long(44), "taskVar": long(45)})

        locked = fetch_one(service, variables=None)

        assert locked.variables == {
            "processVar1": TypedValue("Integer", 42),
            "processVar2": TypedValue("Integer", 43),
            "subProcessVar": TypedValue("Long", 44),
            "taskVar": TypedValue("Long", 45),
        }

    # 5.1 #32
    def test_fetch_non_existing_variable(self, service):
        """Requesting an unknown variable returns an empty map."""
        create_task(service, variables={"known": 1})

        assert fetch_one(service, variables=["nonExistingVariable"]).variables == {}

    # 5.1 #34
    def test_fetch_multiple_topics_with_variables(self, service):
        """The variable selection is per topic; a task's local value wins over the process value."""
        # Camunda's model sets var1/var2 locally on each activity (1 on topic1's, 2 on topic2's)
        create_task(service, topic="topic1", process_instance_id="pi-vars", variables={"var1": 0, "var2": 0},
                    local_variables={"var1": long(1), "var2": long(1)})
        create_task(service, topic="topic2", process_instance_id="pi-vars",
                    local_variables={"var1": long(2), "var2": long(2)})

        locked = fetch_topics(service, topic("topic1", variables=["var1", "var2"]),
                              topic("topic2", variables=["var1"]), max_tasks=5)

        by_topic = {t.task.topic_name: t.variables for t in locked}
        assert by_topic["topic1"] == {"var1": long(1), "var2": long(1)}
        assert by_topic["topic2"] == {"var1": long(2)}

    # 5.1 #157
    def test_fetch_with_empty_list_of_variables(self, service):
        """An empty variable list fetches no variables."""
        create_task(service, variables={"a": 1}, local_variables={"b": 2})

        locked = fetch(service, max_tasks=5, variables=[])

        assert len(locked) == 1
        assert locked[0].variables == {}

    def test_fetched_variables_reflect_changes_made_by_other_tasks(self, service):
        """Process variables are shared: what one task's completion set is fetched with its sibling."""
        first = create_task(service, topic="first", process_instance_id="pi-shared")
        create_task(service, topic="second", process_instance_id="pi-shared")
        fetch_one(service, topic_name="first")

        service.complete(first.id, WORKER_ID, variables={"result": "done"})

        assert values(fetch_one(service, topic_name="second").variables) == {"result": "done"}


class TestCompleteWithVariables:
    # 5.1 #57
    def test_complete_with_variables(self, service, locked):
        """Completion variables become process variables."""
        service.complete(locked.task.id, WORKER_ID, variables={"var": 42})

        assert service.get_process_variables(locked.task.process_instance_id) == {"var": TypedValue("Integer", 42)}

    # 5.1 #155
    def test_complete_with_local_variables(self, service, engine):
        """Local completion variables are not process variables; they are kept in the task's history."""
        task = create_task(service, topic="foo", priority=100)
        locked = fetch_one(service, topic_name="foo", lock=1)

        service.complete(locked.task.id, WORKER_ID, local_variables={"abc": "bar"})

        assert service.get_process_variables(task.process_instance_id) == {}
        completed = events_of(engine, task.id)[-1]
        assert type(completed).__name__ == "Completed"
        assert completed.local_variables == {"abc": TypedValue("String", "bar").to_dict()}

    # 5.1 #156
    def test_complete_with_non_local_variables(self, service):
        """Non-local completion variables are process variables."""
        task = create_task(service, topic="foo", priority=100)
        fetch_one(service, topic_name="foo", lock=1)

        service.complete(task.id, WORKER_ID, variables={"abc": "bar"})

        assert service.get_process_variables(task.process_instance_id) == {"abc": TypedValue("String", "bar")}

    def test_complete_overwrites_an_existing_process_variable(self, service):
        """A completion variable replaces the process variable of the same name and keeps the others."""
        task = create_task(service, variables={"status": "new", "other": 1})
        fetch_one(service)

        service.complete(task.id, WORKER_ID, variables={"status": "done"})

        assert values(service.get_process_variables(task.process_instance_id)) == {"status": "done", "other": 1}

    def test_complete_with_a_malformed_variable(self, service, locked):
        """A value that cannot be typed is refused; the task stays and no variable is written."""
        with raises(BadRequest, camunda_type="InvalidRequestException"):
            service.complete(locked.task.id, WORKER_ID, variables={"ok": 1, "bad": {1, 2}})

        assert service.get_task(locked.task.id).worker_id == WORKER_ID
        assert service.get_process_variables(locked.task.process_instance_id) == {}


class TestFailureWithVariables:
    def test_handle_failure_with_variables(self, service, locked):
        """Failure variables go to the process instance; local ones stay on the task and are fetched with it."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="e", retries=1, retry_timeout=0,
                               variables={"attempt": 1}, local_variables={"lastError": "timeout"})

        assert values(service.get_process_variables(locked.task.process_instance_id)) == {"attempt": 1}
        again = fetch_one(service)
        assert values(again.variables) == {"attempt": 1, "lastError": "timeout"}

    def test_variables_of_a_refused_failure_are_not_stored(self, service, locked):
        """A failure refused for the wrong worker stores none of its variables."""
        with raises(Conflict):
            service.handle_failure(locked.task.id, "someone", retries=1, variables={"x": 1})

        assert service.get_process_variables(locked.task.process_instance_id) == {}

    def test_process_variables_at_creation_and_by_set_process_variables(self, service):
        """Variables given at creation start the instance's scope; set_process_variables changes and deletes them."""
        task = create_task(service, variables={"a": 1, "b": "x"})

        service.set_process_variables(task.process_instance_id, modifications={"c": True}, deletions=["b"])

        assert values(service.get_process_variables(task.process_instance_id)) == {"a": 1, "c": True}
        assert values(fetch_one(service, lock=LOCK_TIME).variables) == {"a": 1, "c": True}

    def test_transient_variables_are_not_stored(self, service, locked):
        """A variable marked transient (valueInfo.transient) is accepted and never persisted."""
        service.complete(
            locked.task.id,
            WORKER_ID,
            variables={"kept": 1, "passing": TypedValue("String", "x", {"transient": True})},
        )

        assert values(service.get_process_variables(locked.task.process_instance_id)) == {"kept": 1}
