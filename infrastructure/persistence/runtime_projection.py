"""Writes the runtime read model from the aggregates of a save, inside the save's transaction.

The rows are the aggregates' current state, which is the fold of their events, so the runtime
model is always exactly consistent with the event store, and replaying the events reproduces it.
A save's changes are worked out once (``RuntimeChanges``), then either executed here statement by
statement or handed to the database whole (``postgres_commit``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from extask.domain.external_task import ExternalTask, epoch_millis
from extask.domain.process_instance import ProcessInstance
from extask.infrastructure.persistence.runtime_tables import RUNTIME_KEYS
from extask.infrastructure.persistence.sql import Dialect, changed_rows, delete_where_in, executemany
from extask.infrastructure.persistence.task_query import variable_search_columns

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


# The column a table's rows are deleted by: a task's or an instance's rows all go at once.
DELETION_KEYS = {
    "ext_task": "id",
    "task_var": "task_id",
    "incident": "configuration",
    "proc_inst": "id",
    "proc_var": "process_instance_id",
}
# Events after which a live aggregate's variables in the runtime tables are written again.
TASK_VARIABLE_EVENTS = (ExternalTask.Created, ExternalTask.Failed)
# Events that change nothing of a task's row but its lock (and its version).
LOCK_EVENTS = (ExternalTask.Locked, ExternalTask.LockExtended, ExternalTask.Unlocked)
LOCK_COLUMNS = ("id", "worker_id", "lock_expiration_time", "version")
LOCK_UPDATE = "UPDATE {ext_task} SET " + ", ".join(f"{c} = ?" for c in LOCK_COLUMNS[1:]) + " WHERE id = ?"
INCIDENT_ROW_EVENTS = (ExternalTask.IncidentCreated, ExternalTask.IncidentAnnotated)


class MissingTaskRow(RuntimeError):
    """A lock change found no runtime row to update: the read model is not the fold of the events
    (a row removed by hand, say). Nothing of the transaction is written; a replay repairs it."""


def upsert(table: str) -> str:
    """Insert a row, or overwrite the row with its key: the runtime rows are always whole."""
    columns = RUNTIME_COLUMNS[table]
    keys = RUNTIME_KEYS[table]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    return (
        f"INSERT INTO {{{table}}} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


UPSERTS = {table: upsert(table) for table in RUNTIME_COLUMNS}


def millis(moment: Any) -> int | None:
    return None if moment is None else epoch_millis(moment)


@dataclass
class RuntimeChanges:
    """What one transaction changes in the runtime tables: per table, the rows whose deletion key
    (``DELETION_KEYS``) is one of ``deletions``, deleted first; then ``rows`` (in
    ``RUNTIME_COLUMNS`` order), each inserted or overwriting the row with its key; and ``locks``
    (``LOCK_COLUMNS``), tasks whose row exists and of which only the lock changed, updated in
    place. No task is in two of them."""

    deletions: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    locks: list[tuple[Any, ...]] = field(default_factory=list)

    @classmethod
    def merged(cls, parts: Iterable[RuntimeChanges]) -> RuntimeChanges:
        """The changes of several saves together; no aggregate may be in two of them."""
        merged = cls()
        for part in parts:
            for table, keys in part.deletions.items():
                merged.deletions[table].extend(keys)
            for table, rows in part.rows.items():
                merged.rows[table].extend(rows)
            merged.locks.extend(part.locks)
        return merged


class RuntimeProjection:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def changes(self, saved: Iterable[tuple[Any, Sequence[Any] | None]]) -> RuntimeChanges:
        """The runtime changes of saved aggregates, each with the events it was saved with.

        The rows are an aggregate's current state; its events only tell which tables it changed,
        and whether only a task's lock did (then just its lock columns are written). ``None`` for
        the events: they are not known (a replay catching up), so every row the aggregate has is
        written again.
        """
        changes = RuntimeChanges()
        for aggregate, events in saved:
            if events is not None and not events:
                continue  # loaded by the command, left unchanged
            if isinstance(aggregate, ExternalTask):
                self._task_changes(changes, aggregate, events)
            elif isinstance(aggregate, ProcessInstance):
                self._instance_changes(changes, aggregate, events)
        return changes

    def write(self, cursor: Any, aggregates: Iterable[Any]) -> None:
        """Write every runtime row of these aggregates, whatever their events changed."""
        self.apply(cursor, self.changes((aggregate, None) for aggregate in aggregates))

    def apply(self, cursor: Any, changes: RuntimeChanges) -> None:
        for table, keys in changes.deletions.items():
            delete_where_in(cursor, self.dialect, table, DELETION_KEYS[table], keys)
        for table, rows in changes.rows.items():
            executemany(cursor, self.dialect, UPSERTS[table], rows)
        if changes.locks:
            executemany(cursor, self.dialect, LOCK_UPDATE, [(*lock[1:], lock[0]) for lock in changes.locks])
            found = changed_rows(cursor)
            if found != len(changes.locks):
                raise MissingTaskRow(f"{len(changes.locks)} lock changes found {found} task rows")

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
            "task_var": [row for t in live_tasks for row in self._task_variable_rows(t)],
            "incident": [self._incident_row(t) for t in live_tasks if t.incident_id is not None],
            "proc_inst": [self._instance_row(i) for i in live_instances],
            "proc_var": [row for i in live_instances for row in self._variable_rows(i)],
        }

    def _task_changes(self, changes: RuntimeChanges, task: ExternalTask, events: Sequence[Any] | None) -> None:
        task_id = str(task.id)
        if task.is_removed:
            changes.deletions["ext_task"].append(task_id)
            changes.deletions["incident"].append(task_id)
            # A live task's local variables are only ever added, so none stored means none to delete.
            if task.local_variables or events is None:
                changes.deletions["task_var"].append(task_id)
            return
        if events is not None and all(isinstance(event, LOCK_EVENTS) for event in events):
            # The fetch-and-lock path: three columns rather than the whole row (on SQLite, that
            # also spares the two indexes without the lock's expiry).
            changes.locks.append((task_id, task.worker_id, millis(task.lock_expiration_time), task.version))
            return
        changes.rows["ext_task"].append(self._task_row(task))
        if task.local_variables and _any_of(events, TASK_VARIABLE_EVENTS):
            changes.rows["task_var"].extend(self._task_variable_rows(task))
        # An incident lives exactly as long as the task has one.
        if task.incident_id is not None:
            if _any_of(events, INCIDENT_ROW_EVENTS):
                changes.rows["incident"].append(self._incident_row(task))
        elif _any_of(events, (ExternalTask.IncidentResolved,)):
            changes.deletions["incident"].append(task_id)

    def _instance_changes(
        self, changes: RuntimeChanges, instance: ProcessInstance, events: Sequence[Any] | None
    ) -> None:
        instance_id = instance.process_instance_id
        if instance.deleted:
            changes.deletions["proc_inst"].append(instance_id)
            changes.deletions["proc_var"].append(instance_id)
            return
        changes.rows["proc_inst"].append(self._instance_row(instance))
        if _any_of(events, (ProcessInstance.VariablesSet,)):
            # The variables are replaced as a whole: a deleted variable's row must go.
            changes.deletions["proc_var"].append(instance_id)
            changes.rows["proc_var"].extend(self._variable_rows(instance))
        elif _any_of(events, (ProcessInstance.Started,)):
            changes.rows["proc_var"].extend(self._variable_rows(instance))

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
    def _task_variable_rows(task: ExternalTask) -> list[tuple[Any, ...]]:
        return [
            (str(task.id), task.execution_id, name, value["type"], json.dumps(value.get("value")),
             json.dumps(value.get("valueInfo") or {}))
            for name, value in task.local_variables.items()
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


def _any_of(events: Sequence[Any] | None, kinds: tuple[type, ...]) -> bool:
    """Whether one of ``events`` is of these kinds; unknown events (None) might be."""
    return events is None or any(isinstance(event, kinds) for event in events)
