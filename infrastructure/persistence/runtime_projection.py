"""Writes the runtime read model from the aggregates of a save, inside the save's transaction.

The rows are the aggregates' current state, which is the fold of their events, so the runtime
model is always exactly consistent with the event store, and replaying the events reproduces it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from domain.external_task import ExternalTask, epoch_millis
from domain.process_instance import ProcessInstance
from infrastructure.persistence.sql import Dialect, delete_where_in, execute, executemany
from infrastructure.persistence.task_query import variable_search_columns

TASK_COLUMNS = (
    "id", "topic_name", "worker_id", "lock_expiration_time", "retries", "suspended", "priority",
    "create_time", "process_instance_id", "process_definition_id", "process_definition_key",
    "process_definition_version_tag", "activity_id", "activity_instance_id", "execution_id",
    "business_key", "tenant_id", "error_message", "error_details", "version",
)
INCIDENT_COLUMNS = (
    "id", "incident_timestamp", "incident_type", "incident_message", "configuration",
    "process_instance_id", "process_definition_id", "process_definition_key", "execution_id",
    "activity_id", "tenant_id", "annotation",
)
INSTANCE_COLUMNS = (
    "id", "business_key", "process_definition_id", "process_definition_key", "tenant_id",
    "suspended", "version",
)
PROCESS_VARIABLE_COLUMNS = (
    "process_instance_id", "name", "type", "value", "value_info", "text_value", "long_value", "double_value",
)
TASK_VARIABLE_COLUMNS = ("task_id", "execution_id", "name", "type", "value", "value_info")
# Each runtime table with its columns, in the order the row builders below produce them.
RUNTIME_COLUMNS = {
    "ext_task": TASK_COLUMNS,
    "proc_inst": INSTANCE_COLUMNS,
    "proc_var": PROCESS_VARIABLE_COLUMNS,
    "incident": INCIDENT_COLUMNS,
    "task_var": TASK_VARIABLE_COLUMNS,
}


def upsert(table: str, columns: tuple[str, ...]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    return (
        f"INSERT INTO {{{table}}} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
    )


UPSERT_TASK = upsert("ext_task", TASK_COLUMNS)
UPSERT_INCIDENT = upsert("incident", INCIDENT_COLUMNS)
UPSERT_INSTANCE = upsert("proc_inst", INSTANCE_COLUMNS)
INSERT_VARIABLE = (
    f"INSERT INTO {{proc_var}} ({', '.join(PROCESS_VARIABLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(PROCESS_VARIABLE_COLUMNS))})"
)
# A live task's local variables are only ever added or overwritten, never removed.
UPSERT_TASK_VARIABLE = (
    f"INSERT INTO {{task_var}} ({', '.join(TASK_VARIABLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(TASK_VARIABLE_COLUMNS))}) "
    "ON CONFLICT (task_id, name) DO UPDATE SET type = excluded.type, value = excluded.value, "
    "value_info = excluded.value_info"
)


def millis(moment: Any) -> int | None:
    return None if moment is None else epoch_millis(moment)


class RuntimeProjection:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def write(self, cursor: Any, aggregates: Iterable[Any]) -> None:
        tasks, instances = [], []
        for aggregate in aggregates:
            (tasks if isinstance(aggregate, ExternalTask) else instances).append(aggregate)
        self._write_tasks(cursor, tasks)
        for instance in instances:
            if isinstance(instance, ProcessInstance):
                self._write_instance(cursor, instance)

    def rows(self, aggregates: Iterable[Any]) -> dict[str, list[tuple[Any, ...]]]:
        """Every runtime row of these aggregates, by table, in ``RUNTIME_COLUMNS`` order: what a
        replay writes in bulk into empty tables."""
        live_tasks, live_instances = [], []
        for aggregate in aggregates:
            if isinstance(aggregate, ExternalTask) and not aggregate.is_removed:
                live_tasks.append(aggregate)
            elif isinstance(aggregate, ProcessInstance) and not aggregate.deleted:
                live_instances.append(aggregate)
        return {
            "ext_task": [self._task_row(t) for t in live_tasks],
            "task_var": self._task_variable_rows(live_tasks),
            "incident": [self._incident_row(t) for t in live_tasks if t.incident_id is not None],
            "proc_inst": [self._instance_row(i) for i in live_instances],
            "proc_var": [row for i in live_instances for row in self._variable_rows(i)],
        }

    def _write_tasks(self, cursor: Any, tasks: list[ExternalTask]) -> None:
        live = [t for t in tasks if not t.is_removed]
        removed = [str(t.id) for t in tasks if t.is_removed]
        executemany(cursor, self.dialect, UPSERT_TASK, [self._task_row(t) for t in live])
        delete_where_in(cursor, self.dialect, "ext_task", "id", removed)
        delete_where_in(cursor, self.dialect, "task_var", "task_id", removed)
        executemany(cursor, self.dialect, UPSERT_TASK_VARIABLE, self._task_variable_rows(live))
        # An incident lives exactly as long as the task has one.
        executemany(
            cursor, self.dialect, UPSERT_INCIDENT,
            [self._incident_row(t) for t in live if t.incident_id is not None],
        )
        delete_where_in(
            cursor, self.dialect, "incident", "configuration",
            removed + [str(t.id) for t in live if t.incident_id is None],
        )

    def _write_instance(self, cursor: Any, instance: ProcessInstance) -> None:
        instance_id = instance.process_instance_id
        execute(cursor, self.dialect, "DELETE FROM {proc_var} WHERE process_instance_id = ?", (instance_id,))
        if instance.deleted:
            execute(cursor, self.dialect, "DELETE FROM {proc_inst} WHERE id = ?", (instance_id,))
            return
        execute(cursor, self.dialect, UPSERT_INSTANCE, self._instance_row(instance))
        executemany(cursor, self.dialect, INSERT_VARIABLE, self._variable_rows(instance))

    @staticmethod
    def _instance_row(instance: ProcessInstance) -> tuple[Any, ...]:
        return (
            instance.process_instance_id, instance.business_key, instance.process_definition_id,
            instance.process_definition_key, instance.tenant_id, instance.suspended, instance.version,
        )

    @staticmethod
    def _variable_rows(instance: ProcessInstance) -> list[tuple[Any, ...]]:
        return [
            (instance.process_instance_id, name, value["type"], json.dumps(value.get("value")),
             json.dumps(value.get("valueInfo") or {}), *variable_search_columns(value))
            for name, value in instance.variables.items()
        ]

    @staticmethod
    def _task_variable_rows(tasks: list[ExternalTask]) -> list[tuple[Any, ...]]:
        return [
            (str(t.id), t.execution_id, name, value["type"], json.dumps(value.get("value")),
             json.dumps(value.get("valueInfo") or {}))
            for t in tasks
            for name, value in t.local_variables.items()
        ]

    @staticmethod
    def _task_row(task: ExternalTask) -> tuple[Any, ...]:
        return (
            str(task.id), task.topic_name, task.worker_id, millis(task.lock_expiration_time),
            task.retries, task.suspended, task.priority, millis(task.create_time),
            task.process_instance_id, task.process_definition_id, task.process_definition_key,
            task.process_definition_version_tag, task.activity_id, task.activity_instance_id,
            task.execution_id, task.business_key, task.tenant_id, task.error_message,
            task.error_details, task.version,
        )

    @staticmethod
    def _incident_row(task: ExternalTask) -> tuple[Any, ...]:
        return (
            task.incident_id, millis(task.incident_time), "failedExternalTask",
            task.incident_message, str(task.id), task.process_instance_id,
            task.process_definition_id, task.process_definition_key, task.execution_id,
            task.activity_id, task.tenant_id, task.incident_annotation,
        )
