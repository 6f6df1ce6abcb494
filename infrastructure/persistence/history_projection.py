"""Projects external-task events into the historic external-task log and incident history.

One log row per creation, failure, success and deletion (Camunda 7's four log states), never
updated afterwards. A row's id is the position of its event in the event store, so the log can be
dropped and rebuilt with the same ids. Locks, unlocks and retry changes write no log rows (as in
Camunda); they only update the per-task state used to fill in later rows.

The projection decides what changes; a store carries it out: in SQL, one event at a time, as the
server catches up, or in memory, for a replay of the whole event store that is written in bulk.

A server catches up a page of events at a time (``next_notifications``): at most
``HISTORY_PAGE_EVENTS`` of them and at most ``HISTORY_PAGE_BYTES`` of stored events together,
told from their sizes before their bodies are read, so a run of large events (variables of
megabytes) is read a few at a time instead of hundreds at once. An event larger than the whole
budget is read alone. What is projected does not change, only how many events one read takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from eventsourcing.persistence import Notification

from extask.domain.external_task import ExternalTask, epoch_millis
from extask.infrastructure.persistence.history_tables import (
    LOG_STATE_CREATED,
    LOG_STATE_DELETED,
    LOG_STATE_FAILED,
    LOG_STATE_SUCCESSFUL,
)
from extask.infrastructure.persistence.sql import Dialect, execute

HISTORY_PAGE_EVENTS = 500
HISTORY_PAGE_BYTES = 16 * 1024 * 1024

STATE_COLUMNS = (
    "id", "topic_name", "worker_id", "priority", "retries", "error_details", "activity_id",
    "activity_instance_id", "execution_id", "process_instance_id", "process_definition_id",
    "process_definition_key", "tenant_id", "last_failure_log_id", "incident_id",
)
LOG_COLUMNS = (
    "seq", "id", "timestamp", "state", "external_task_id", "topic_name", "worker_id", "priority",
    "retries", "error_message", "error_details", "activity_id", "activity_instance_id",
    "execution_id", "process_instance_id", "process_definition_id", "process_definition_key",
    "tenant_id",
)
INCIDENT_COLUMNS = (
    "id", "create_time", "end_time", "state", "incident_type", "incident_message", "configuration",
    "history_configuration", "process_instance_id", "process_definition_id",
    "process_definition_key", "execution_id", "activity_id", "tenant_id", "annotation",
)
# Each history table with its columns, in the order the stores write rows.
HISTORY_COLUMNS = {
    "hist_task_state": STATE_COLUMNS,
    "hist_ext_task_log": LOG_COLUMNS,
    "hist_incident": INCIDENT_COLUMNS,
}


class HistoryStore(Protocol):
    """Where the projection's changes go; rows are dicts keyed by column name."""

    def add_task(self, state: dict[str, Any]) -> None: ...

    def task(self, task_id: str) -> dict[str, Any]: ...

    def update_task(self, task_id: str, changes: dict[str, Any]) -> None: ...

    def add_log(self, row: dict[str, Any]) -> None: ...

    def add_incident(self, row: dict[str, Any]) -> None: ...

    def update_incident(self, incident_id: str, changes: dict[str, Any]) -> None: ...


class HistoryProjection:
    def apply(self, store: HistoryStore, position: int, event: Any) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None and isinstance(event, ExternalTask.Event):
            handler(store, position, event)

    # -- events that write log rows -------------------------------------------------------------

    def _on_Created(self, store: HistoryStore, position: int, event: ExternalTask.Created) -> None:
        state = {
            "id": str(event.originator_id), "topic_name": event.topic_name, "worker_id": None,
            "priority": event.priority, "retries": event.retries, "error_details": None,
            "activity_id": event.activity_id, "activity_instance_id": event.activity_instance_id,
            "execution_id": event.execution_id, "process_instance_id": event.process_instance_id,
            "process_definition_id": event.process_definition_id,
            "process_definition_key": event.process_definition_key, "tenant_id": event.tenant_id,
            "last_failure_log_id": None, "incident_id": None,
        }
        store.add_task(state)
        store.add_log(log_row(position, event, state, LOG_STATE_CREATED, worker_id=None))

    def _on_Failed(self, store: HistoryStore, position: int, event: ExternalTask.Failed) -> None:
        state = store.task(str(event.originator_id))
        details = event.error_details if event.error_details is not None else state["error_details"]
        # The failure row records the retries *before* this failure, as Camunda does.
        store.add_log(log_row(
            position, event, state, LOG_STATE_FAILED,
            worker_id=event.worker_id, error_message=event.error_message, error_details=details,
        ))
        store.update_task(state["id"], {
            "worker_id": event.worker_id, "retries": event.retries, "error_details": details,
            "last_failure_log_id": str(position),
        })

    def _on_Completed(self, store: HistoryStore, position: int, event: ExternalTask.Completed) -> None:
        state = store.task(str(event.originator_id))
        store.add_log(log_row(position, event, state, LOG_STATE_SUCCESSFUL, worker_id=event.worker_id))

    def _on_BpmnErrorThrown(self, store: HistoryStore, position: int, event: ExternalTask.BpmnErrorThrown) -> None:
        self._remove(store, position, event)

    def _on_Deleted(self, store: HistoryStore, position: int, event: ExternalTask.Deleted) -> None:
        self._remove(store, position, event)

    def _remove(self, store: HistoryStore, position: int, event: Any) -> None:
        state = store.task(str(event.originator_id))
        store.add_log(log_row(position, event, state, LOG_STATE_DELETED, worker_id=state["worker_id"]))
        if state["incident_id"] is not None:
            store.update_incident(
                state["incident_id"], {"state": "deleted", "end_time": epoch_millis(event.timestamp)}
            )

    # -- incidents ------------------------------------------------------------------------------

    def _on_IncidentCreated(self, store: HistoryStore, position: int, event: ExternalTask.IncidentCreated) -> None:
        state = store.task(str(event.originator_id))
        store.add_incident({
            "id": event.incident_id, "create_time": epoch_millis(event.timestamp), "end_time": None,
            "state": "open", "incident_type": "failedExternalTask",
            "incident_message": event.incident_message, "configuration": state["id"],
            "history_configuration": state["last_failure_log_id"],
            "process_instance_id": state["process_instance_id"],
            "process_definition_id": state["process_definition_id"],
            "process_definition_key": state["process_definition_key"],
            "execution_id": state["execution_id"], "activity_id": state["activity_id"],
            "tenant_id": state["tenant_id"], "annotation": None,
        })
        store.update_task(state["id"], {"incident_id": event.incident_id})

    def _on_IncidentAnnotated(self, store: HistoryStore, position: int, event: ExternalTask.IncidentAnnotated) -> None:
        store.update_incident(event.incident_id, {"annotation": event.annotation})

    def _on_IncidentResolved(self, store: HistoryStore, position: int, event: ExternalTask.IncidentResolved) -> None:
        store.update_incident(event.incident_id, {"state": "resolved", "end_time": epoch_millis(event.timestamp)})
        store.update_task(str(event.originator_id), {"incident_id": None})

    # -- events that only change the state later rows are filled in from ------------------------

    def _on_Locked(self, store: HistoryStore, position: int, event: ExternalTask.Locked) -> None:
        store.update_task(str(event.originator_id), {"worker_id": event.worker_id})

    def _on_Unlocked(self, store: HistoryStore, position: int, event: ExternalTask.Unlocked) -> None:
        store.update_task(str(event.originator_id), {"worker_id": None})

    def _on_RetriesSet(self, store: HistoryStore, position: int, event: ExternalTask.RetriesSet) -> None:
        store.update_task(str(event.originator_id), {"retries": event.retries})

    def _on_PrioritySet(self, store: HistoryStore, position: int, event: ExternalTask.PrioritySet) -> None:
        store.update_task(str(event.originator_id), {"priority": event.priority})


def log_row(
    position: int, event: Any, state: dict[str, Any], log_state: int, *,
    worker_id: str | None, error_message: str | None = None, error_details: str | None = None,
) -> dict[str, Any]:
    return {
        "seq": position, "id": str(position), "timestamp": epoch_millis(event.timestamp),
        "state": log_state, "external_task_id": state["id"], "topic_name": state["topic_name"],
        "worker_id": worker_id, "priority": state["priority"], "retries": state["retries"],
        "error_message": error_message, "error_details": error_details,
        "activity_id": state["activity_id"], "activity_instance_id": state["activity_instance_id"],
        "execution_id": state["execution_id"], "process_instance_id": state["process_instance_id"],
        "process_definition_id": state["process_definition_id"],
        "process_definition_key": state["process_definition_key"], "tenant_id": state["tenant_id"],
    }


def next_notifications(
    recorder: Any, position: int, *, limit: int = HISTORY_PAGE_EVENTS, max_bytes: int = HISTORY_PAGE_BYTES
) -> Sequence[Notification]:
    """The next page of events after ``position`` for the projection: at most ``limit`` events and
    at most ``max_bytes`` of stored state together, but at least one. Where the page ends is told
    first, by one query that reads no event's body (``_page_end``); the page is then read up to
    there."""
    stop = _page_end(recorder, position, limit, max_bytes)
    if stop is None:
        return []
    return recorder.select_notifications(position, limit=limit, stop=stop, inclusive_of_start=False)


def _page_end(recorder: Any, position: int, limit: int, max_bytes: int) -> int | None:
    """The id of the last of the next ``limit`` events after ``position`` whose stored states,
    added up from the first, stay within ``max_bytes`` (the first event's id if it alone is
    larger); None if there is no event after ``position``. Neither backend reads a value to tell
    its length: SQLite skips a blob's overflow pages, PostgreSQL reads it from the TOAST pointer."""
    dialect: Dialect = recorder.dialect
    table = dialect.table(recorder.events_table_name)
    id_column, length = ("notification_id", "octet_length") if dialect.name == "postgres" else ("rowid", "length")
    statement = dialect.sql(
        "SELECT MIN(id) AS first, MAX(CASE WHEN total <= ? THEN id END) AS last FROM ("
        " SELECT id, SUM(size) OVER (ORDER BY id) AS total FROM ("
        f"  SELECT {id_column} AS id, {length}(state) AS size FROM {table}"
        f"  WHERE {id_column} > ? ORDER BY {id_column} LIMIT ?) page) totals"
    )
    params = (max_bytes, position, limit)
    if dialect.name == "postgres":
        with recorder.datastore.get_connection() as connection:
            row = connection.execute(statement, params, prepare=True).fetchone()
    else:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            row = cursor.fetchone()
    if row is None or row["first"] is None:
        return None
    return int(row["last"] if row["last"] is not None else row["first"])


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {{{table}}} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class SqlHistoryStore:
    """Applies the projection's changes with one statement each, in the caller's transaction."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def add_task(self, state: dict[str, Any]) -> None:
        self._execute(_insert("hist_task_state", STATE_COLUMNS), tuple(state[c] for c in STATE_COLUMNS))

    def task(self, task_id: str) -> dict[str, Any]:
        self._execute(f"SELECT {', '.join(STATE_COLUMNS)} FROM {{hist_task_state}} WHERE id = ?", (task_id,))
        row = self._cursor.fetchone()
        return {c: row[c] for c in STATE_COLUMNS}

    def update_task(self, task_id: str, changes: dict[str, Any]) -> None:
        self._update("hist_task_state", task_id, changes)

    def add_log(self, row: dict[str, Any]) -> None:
        self._execute(_insert("hist_ext_task_log", LOG_COLUMNS), tuple(row[c] for c in LOG_COLUMNS))

    def add_incident(self, row: dict[str, Any]) -> None:
        self._execute(_insert("hist_incident", INCIDENT_COLUMNS), tuple(row[c] for c in INCIDENT_COLUMNS))

    def update_incident(self, incident_id: str, changes: dict[str, Any]) -> None:
        self._update("hist_incident", incident_id, changes)

    def _update(self, table: str, row_id: str, changes: dict[str, Any]) -> None:
        assignments = ", ".join(f"{c} = ?" for c in changes)
        self._execute(f"UPDATE {{{table}}} SET {assignments} WHERE id = ?", (*changes.values(), row_id))

    def _execute(self, statement: str, params: Any) -> None:
        execute(self._cursor, self._dialect, statement, params)


class InMemoryHistoryStore:
    """Keeps the whole history model in dicts, for a replay that writes it out in bulk at the end."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.logs: list[dict[str, Any]] = []
        self.incidents: dict[str, dict[str, Any]] = {}

    def add_task(self, state: dict[str, Any]) -> None:
        self.tasks[state["id"]] = dict(state)

    def task(self, task_id: str) -> dict[str, Any]:
        return self.tasks[task_id]

    def update_task(self, task_id: str, changes: dict[str, Any]) -> None:
        self.tasks[task_id].update(changes)

    def add_log(self, row: dict[str, Any]) -> None:
        self.logs.append(row)

    def add_incident(self, row: dict[str, Any]) -> None:
        self.incidents[row["id"]] = row

    def update_incident(self, incident_id: str, changes: dict[str, Any]) -> None:
        self.incidents[incident_id].update(changes)

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows as tuples in ``HISTORY_COLUMNS`` order."""
        records = {"hist_task_state": self.tasks.values(), "hist_ext_task_log": self.logs, "hist_incident": self.incidents.values()}
        return {table: [tuple(r[c] for c in columns) for r in records[table]] for table, columns in HISTORY_COLUMNS.items()}
