"""Projects external-task events into the historic external-task log and incident history.

One log row per creation, failure, success and deletion (Camunda 7's four log states), never
updated afterwards. A row's id is the position of its event in the event store, so the log can be
dropped and rebuilt with the same ids. Locks, unlocks and retry changes write no log rows (as in
Camunda); they only update the per-task state used to fill in later rows.
"""

from __future__ import annotations

from typing import Any

from domain.external_task import ExternalTask, epoch_millis
from infrastructure.persistence.history_tables import (
    LOG_STATE_CREATED,
    LOG_STATE_DELETED,
    LOG_STATE_FAILED,
    LOG_STATE_SUCCESSFUL,
)
from infrastructure.persistence.sql import Dialect, execute

STATE_COLUMNS = (
    "id", "topic_name", "worker_id", "priority", "retries", "error_details", "activity_id",
    "activity_instance_id", "execution_id", "process_instance_id", "process_definition_id",
    "process_definition_key", "tenant_id", "last_failure_log_id", "incident_id",
)
INSERT_LOG = (
    "INSERT INTO {hist_ext_task_log} (seq, id, timestamp, state, external_task_id, topic_name, "
    "worker_id, priority, retries, error_message, error_details, activity_id, activity_instance_id, "
    "execution_id, process_instance_id, process_definition_id, process_definition_key, tenant_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_INCIDENT = (
    "INSERT INTO {hist_incident} (id, create_time, end_time, state, incident_type, incident_message, "
    "configuration, history_configuration, process_instance_id, process_definition_id, "
    "process_definition_key, execution_id, activity_id, tenant_id) "
    "VALUES (?, ?, NULL, 'open', 'failedExternalTask', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class HistoryProjection:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def apply(self, cursor: Any, position: int, event: Any) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None and isinstance(event, ExternalTask.Event):
            handler(cursor, position, event)

    # -- events that write log rows -------------------------------------------------------------

    def _on_Created(self, cursor: Any, position: int, event: ExternalTask.Created) -> None:
        state = {
            "id": str(event.originator_id), "topic_name": event.topic_name, "worker_id": None,
            "priority": event.priority, "retries": event.retries, "error_details": None,
            "activity_id": event.activity_id, "activity_instance_id": event.activity_instance_id,
            "execution_id": event.execution_id, "process_instance_id": event.process_instance_id,
            "process_definition_id": event.process_definition_id,
            "process_definition_key": event.process_definition_key, "tenant_id": event.tenant_id,
            "last_failure_log_id": None, "incident_id": None,
        }
        self._execute(
            cursor,
            f"INSERT INTO {{hist_task_state}} ({', '.join(STATE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(STATE_COLUMNS))})",
            tuple(state[c] for c in STATE_COLUMNS),
        )
        self._log(cursor, position, event, state, LOG_STATE_CREATED, worker_id=None)

    def _on_Failed(self, cursor: Any, position: int, event: ExternalTask.Failed) -> None:
        state = self._state(cursor, event)
        details = event.error_details if event.error_details is not None else state["error_details"]
        # The failure row records the retries *before* this failure, as Camunda does.
        self._log(
            cursor, position, event, state, LOG_STATE_FAILED,
            worker_id=event.worker_id, error_message=event.error_message, error_details=details,
        )
        self._update(
            cursor, event, worker_id=event.worker_id, retries=event.retries, error_details=details,
            last_failure_log_id=str(position),
        )

    def _on_Completed(self, cursor: Any, position: int, event: ExternalTask.Completed) -> None:
        state = self._state(cursor, event)
        self._log(cursor, position, event, state, LOG_STATE_SUCCESSFUL, worker_id=event.worker_id)

    def _on_BpmnErrorThrown(self, cursor: Any, position: int, event: ExternalTask.BpmnErrorThrown) -> None:
        self._remove(cursor, position, event)

    def _on_Deleted(self, cursor: Any, position: int, event: ExternalTask.Deleted) -> None:
        self._remove(cursor, position, event)

    def _remove(self, cursor: Any, position: int, event: Any) -> None:
        state = self._state(cursor, event)
        self._log(cursor, position, event, state, LOG_STATE_DELETED, worker_id=state["worker_id"])
        if state["incident_id"] is not None:
            self._execute(
                cursor,
                "UPDATE {hist_incident} SET state = 'deleted', end_time = ? WHERE id = ?",
                (epoch_millis(event.timestamp), state["incident_id"]),
            )

    # -- incidents ------------------------------------------------------------------------------

    def _on_IncidentCreated(self, cursor: Any, position: int, event: ExternalTask.IncidentCreated) -> None:
        state = self._state(cursor, event)
        self._execute(
            cursor, INSERT_INCIDENT,
            (
                event.incident_id, epoch_millis(event.timestamp), event.incident_message,
                state["id"], state["last_failure_log_id"], state["process_instance_id"],
                state["process_definition_id"], state["process_definition_key"],
                state["execution_id"], state["activity_id"], state["tenant_id"],
            ),
        )
        self._update(cursor, event, incident_id=event.incident_id)

    def _on_IncidentAnnotated(self, cursor: Any, position: int, event: ExternalTask.IncidentAnnotated) -> None:
        self._execute(
            cursor, "UPDATE {hist_incident} SET annotation = ? WHERE id = ?", (event.annotation, event.incident_id)
        )

    def _on_IncidentResolved(self, cursor: Any, position: int, event: ExternalTask.IncidentResolved) -> None:
        self._execute(
            cursor,
            "UPDATE {hist_incident} SET state = 'resolved', end_time = ? WHERE id = ?",
            (epoch_millis(event.timestamp), event.incident_id),
        )
        self._update(cursor, event, incident_id=None)

    # -- events that only change the state later rows are filled in from ------------------------

    def _on_Locked(self, cursor: Any, position: int, event: ExternalTask.Locked) -> None:
        self._update(cursor, event, worker_id=event.worker_id)

    def _on_Unlocked(self, cursor: Any, position: int, event: ExternalTask.Unlocked) -> None:
        self._update(cursor, event, worker_id=None)

    def _on_RetriesSet(self, cursor: Any, position: int, event: ExternalTask.RetriesSet) -> None:
        self._update(cursor, event, retries=event.retries)

    def _on_PrioritySet(self, cursor: Any, position: int, event: ExternalTask.PrioritySet) -> None:
        self._update(cursor, event, priority=event.priority)

    # -- helpers --------------------------------------------------------------------------------

    def _log(
        self, cursor: Any, position: int, event: Any, state: dict[str, Any], log_state: int, *,
        worker_id: str | None, error_message: str | None = None, error_details: str | None = None,
    ) -> None:
        self._execute(
            cursor, INSERT_LOG,
            (
                position, str(position), epoch_millis(event.timestamp), log_state, state["id"],
                state["topic_name"], worker_id, state["priority"], state["retries"], error_message,
                error_details, state["activity_id"], state["activity_instance_id"],
                state["execution_id"], state["process_instance_id"], state["process_definition_id"],
                state["process_definition_key"], state["tenant_id"],
            ),
        )

    def _state(self, cursor: Any, event: Any) -> dict[str, Any]:
        self._execute(
            cursor,
            f"SELECT {', '.join(STATE_COLUMNS)} FROM {{hist_task_state}} WHERE id = ?",
            (str(event.originator_id),),
        )
        row = cursor.fetchone()
        return {c: row[c] for c in STATE_COLUMNS}

    def _update(self, cursor: Any, event: Any, **changes: Any) -> None:
        assignments = ", ".join(f"{c} = ?" for c in changes)
        self._execute(
            cursor,
            f"UPDATE {{hist_task_state}} SET {assignments} WHERE id = ?",
            (*changes.values(), str(event.originator_id)),
        )

    def _execute(self, cursor: Any, statement: str, params: Any) -> None:
        execute(cursor, self.dialect, statement, params)
