"""Which runtime rows a save writes and deletes, worked out from the aggregates and their events
(no database). The rows are always an aggregate's whole current state; the events only say which
tables a save touches, and whether only a task's lock changed: then only its lock columns are
written.
"""

from __future__ import annotations

from datetime import datetime, timezone

from extask.domain.external_task import ExternalTask, epoch_millis
from extask.domain.process_instance import ProcessInstance
from extask.infrastructure.persistence.runtime_projection import RuntimeProjection
from extask.infrastructure.persistence.sql import Dialect

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
WORKER = "aWorkerId"
VARIABLE = {"type": "String", "value": "v", "valueInfo": {}}

projection = RuntimeProjection(Dialect("sqlite"))


def saved(*aggregates):
    """The changes of saving these aggregates with their pending events (which are collected)."""
    return projection.changes((aggregate, aggregate.collect_events()) for aggregate in aggregates)


def tables(changes) -> tuple[dict[str, int], dict[str, list[str]]]:
    """(rows written per table, keys deleted per table), leaving out tables a save does not touch."""
    written = {table: len(rows) for table, rows in changes.rows.items() if rows}
    deleted = {table: keys for table, keys in changes.deletions.items() if keys}
    return written, deleted


def new_task(**fields) -> ExternalTask:
    task = ExternalTask.create(now=NOW, topic_name="topic", process_instance_id="pi-1", **fields)
    task.collect_events()
    return task


def locked_task(**fields) -> ExternalTask:
    task = new_task(**fields)
    task.lock(WORKER, 10_000, NOW)
    task.collect_events()
    return task


def with_incident() -> ExternalTask:
    task = locked_task()
    task.handle_failure(WORKER, NOW, error_message="boom", retries=0)
    task.collect_events()
    return task


class TestCreation:
    def test_a_new_task_writes_its_row(self):
        task = ExternalTask.create(now=NOW, topic_name="topic", process_instance_id="pi-1")
        assert tables(saved(task)) == ({"ext_task": 1}, {})

    def test_a_new_task_writes_its_local_variables(self):
        task = ExternalTask.create(
            now=NOW, topic_name="topic", process_instance_id="pi-1", local_variables={"a": VARIABLE, "b": VARIABLE}
        )
        assert tables(saved(task)) == ({"ext_task": 1, "task_var": 2}, {})

    def test_a_task_created_without_retries_writes_its_incident(self):
        task = ExternalTask.create(now=NOW, topic_name="topic", process_instance_id="pi-1", retries=0)
        assert tables(saved(task)) == ({"ext_task": 1, "incident": 1}, {})

    def test_a_new_instance_writes_its_row_and_variables_and_deletes_nothing(self):
        instance = ProcessInstance.start(now=NOW, process_instance_id="pi-1", variables={"a": VARIABLE})
        assert tables(saved(instance)) == ({"proc_inst": 1, "proc_var": 1}, {})


class TestWorkerCommands:
    def test_a_lock_updates_the_task_rows_lock_and_nothing_else(self):
        task = new_task(local_variables={"a": VARIABLE})
        task.fetch_lock(WORKER, 10_000, NOW)
        changes = saved(task)
        assert tables(changes) == ({}, {})
        assert changes.locks == [(str(task.id), WORKER, epoch_millis(NOW) + 10_000, 2)]

    def test_an_extended_lock_and_an_unlock_update_the_lock_alone(self):
        task = locked_task()
        task.extend_lock(WORKER, 20_000, NOW)
        task.unlock(NOW)
        changes = saved(task)
        assert tables(changes) == ({}, {})
        assert changes.locks == [(str(task.id), None, None, 4)]

    def test_a_lock_with_another_change_in_the_same_save_rewrites_the_row(self):
        task = new_task()
        task.fetch_lock(WORKER, 10_000, NOW)
        task.set_priority(5, NOW)
        changes = saved(task)
        assert tables(changes) == ({"ext_task": 1}, {}) and changes.locks == []
        assert changes.rows["ext_task"][0][2] == WORKER

    def test_a_task_created_and_locked_in_one_save_writes_its_whole_row(self):
        task = ExternalTask.create(now=NOW, topic_name="topic", process_instance_id="pi-1")
        task.fetch_lock(WORKER, 10_000, NOW)
        changes = saved(task)
        assert tables(changes) == ({"ext_task": 1}, {}) and changes.locks == []

    def test_a_completion_deletes_the_task_row_and_its_incident(self):
        task = locked_task()
        task.complete(WORKER, NOW)
        assert tables(saved(task)) == ({}, {"ext_task": [str(task.id)], "incident": [str(task.id)]})

    def test_a_completion_deletes_the_local_variables_of_a_task_that_has_some(self):
        task = locked_task(local_variables={"a": VARIABLE})
        task.complete(WORKER, NOW)
        assert tables(saved(task))[1]["task_var"] == [str(task.id)]

    def test_a_failure_with_retries_left_rewrites_the_row_and_the_local_variables(self):
        task = locked_task()
        task.handle_failure(WORKER, NOW, retries=2, local_variables={"a": VARIABLE})
        assert tables(saved(task)) == ({"ext_task": 1, "task_var": 1}, {})

    def test_a_failure_without_retries_writes_the_incident(self):
        task = locked_task()
        task.handle_failure(WORKER, NOW, error_message="boom", retries=0)
        written, deleted = tables(saved(task))
        assert written == {"ext_task": 1, "incident": 1} and deleted == {}


class TestIncidents:
    def test_retries_set_again_delete_the_incident(self):
        task = with_incident()
        task.set_retries(1, NOW)
        assert tables(saved(task)) == ({"ext_task": 1}, {"incident": [str(task.id)]})

    def test_an_annotation_rewrites_the_incident(self):
        task = with_incident()
        task.annotate_incident(task.incident_id, "looked at it", NOW)
        [row] = saved(task).rows["incident"]
        assert row[-1] == "looked at it"

    def test_a_priority_change_leaves_the_open_incident_alone(self):
        task = with_incident()
        task.set_priority(5, NOW)
        assert tables(saved(task)) == ({"ext_task": 1}, {})


class TestProcessInstances:
    def test_changed_variables_are_replaced_as_a_whole(self):
        instance = ProcessInstance.start(now=NOW, process_instance_id="pi-1", variables={"a": VARIABLE, "b": VARIABLE})
        instance.collect_events()
        instance.set_variables(NOW, {"c": VARIABLE}, ["a"])
        written, deleted = tables(saved(instance))
        assert written == {"proc_inst": 1, "proc_var": 2} and deleted == {"proc_var": ["pi-1"]}

    def test_a_suspension_rewrites_the_instance_row_only(self):
        instance = ProcessInstance.start(now=NOW, process_instance_id="pi-1", variables={"a": VARIABLE})
        instance.collect_events()
        instance.suspend(NOW)
        assert tables(saved(instance)) == ({"proc_inst": 1}, {})

    def test_a_deleted_instance_deletes_its_row_and_variables(self):
        instance = ProcessInstance.start(now=NOW, process_instance_id="pi-1")
        instance.collect_events()
        instance.delete(NOW)
        assert tables(saved(instance)) == ({}, {"proc_inst": ["pi-1"], "proc_var": ["pi-1"]})


class TestUnknownEvents:
    """A replay catching up writes aggregates without their events: every row they have."""

    def test_a_live_task_without_incident_writes_its_row_and_deletes_any_incident(self):
        task = locked_task(local_variables={"a": VARIABLE})
        changes = projection.changes([(task, None)])
        assert tables(changes) == ({"ext_task": 1, "task_var": 1}, {"incident": [str(task.id)]})

    def test_an_ended_task_deletes_all_its_rows(self):
        task = locked_task()
        task.complete(WORKER, NOW)
        task.collect_events()
        changes = projection.changes([(task, None)])
        deleted = {str(task.id)}
        assert {table: set(keys) for table, keys in tables(changes)[1].items()} == {
            "ext_task": deleted, "task_var": deleted, "incident": deleted,
        }

    def test_an_aggregate_saved_without_events_changes_nothing(self):
        assert tables(projection.changes([(new_task(), [])])) == ({}, {})
