"""The history read model: keeps the history projection caught up and answers history queries.

Catching up reads the event store's notifications after the projection's tracked position and
applies them with the new position in one transaction, under the history writers' lock and only if
the position is still the one the batch was read from, so each event is applied exactly once even
when several server processes catch up at the same time or a replay swaps the tables meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from extask.application.dto import HistoricExternalTaskLogDTO, HistoricIncidentDTO
from extask.application.errors import ApplicationError
from extask.application.event_store import ExternalTaskEventStore
from extask.application.queries import HistoricExternalTaskLogQuery, HistoricIncidentQuery, Page
from extask.infrastructure.persistence import historic_incident_queries as historic_incidents
from extask.infrastructure.persistence.bounded_reads import Reads
from extask.infrastructure.persistence.history_position import PROJECTION_NAME, HistoryPosition
from extask.infrastructure.persistence.history_projection import HistoryProjection, SqlHistoryStore, next_notifications
from extask.infrastructure.persistence.history_tables import (
    LOG_STATE_CREATED,
    LOG_STATE_DELETED,
    LOG_STATE_FAILED,
    LOG_STATE_SUCCESSFUL,
)
from extask.infrastructure.persistence.query_building import Filters, order_by, paging
from extask.infrastructure.persistence.sql import Dialect, from_epoch_ms

CATCH_UP_TIMEOUT_SECONDS = 30.0

LOG_COLUMNS = (
    "id, timestamp, state, external_task_id, topic_name, worker_id, priority, retries, error_message, "
    "activity_id, activity_instance_id, execution_id, process_instance_id, process_definition_id, "
    "process_definition_key, tenant_id"
)
LOG_SORT_COLUMNS = {
    "timestamp": "timestamp", "externalTaskId": "external_task_id", "retries": "retries",
    "priority": "priority", "topicName": "topic_name", "workerId": "worker_id",
    "activityId": "activity_id", "activityInstanceId": "activity_instance_id",
    "executionId": "execution_id", "processInstanceId": "process_instance_id",
    "processDefinitionId": "process_definition_id", "processDefinitionKey": "process_definition_key",
    "tenantId": "tenant_id",
}


class _Moved(Exception):
    """The tracked position changed after the batch was read; rolls the batch back."""


class HistoryProjectionBehind(ApplicationError):
    camunda_type = "ProcessEngineException"


class SqlHistoryReadModel:
    def __init__(
        self, event_store: ExternalTaskEventStore, tracking_recorder: Any, dialect: Dialect, query_reads: Reads
    ) -> None:
        self._event_store = event_store
        self._query_reads = query_reads
        self._tracking = tracking_recorder
        self._dialect = dialect
        self._projection = HistoryProjection()
        self._position = HistoryPosition(dialect, getattr(tracking_recorder, "tracking_table_name", "tracking"))
        self._lock = threading.Lock()

    # -- keeping up with the event store --------------------------------------------------------

    def catch_up(self) -> None:
        target = self._event_store.recorder.max_notification_id() or 0
        if not self._lock.acquire(timeout=CATCH_UP_TIMEOUT_SECONDS):
            raise HistoryProjectionBehind(
                f"The history projection did not reach position {target} within "
                f"{CATCH_UP_TIMEOUT_SECONDS:.0f} s; try again later."
            )
        try:
            while (self._tracking.max_tracking_id(PROJECTION_NAME) or 0) < target:
                self._process_next_batch()
        finally:
            self._lock.release()

    def _process_next_batch(self) -> None:
        position = self._tracking.max_tracking_id(PROJECTION_NAME) or 0
        notifications = next_notifications(self._event_store.recorder, position)
        if not notifications:
            return
        try:
            with self._tracking.datastore.transaction(commit=True) as cursor:
                self._position.lock(cursor)
                if self._position.read(cursor) != position:
                    raise _Moved
                store = SqlHistoryStore(cursor, self._dialect)
                for notification in notifications:
                    event = self._event_store.mapper.to_domain_event(notification)
                    self._projection.apply(store, notification.id, event)
                self._tracking._insert_tracking(
                    cursor, Tracking(notification_id=notifications[-1].id, application_name=PROJECTION_NAME)
                )
        except (IntegrityError, _Moved):
            pass  # another process (or a replay) moved the position first; the loop reads it again

    # -- queries --------------------------------------------------------------------------------

    def _rows(self, statement: str, params: Iterable[Any] = ()) -> list[Any]:
        """The rows of a query, on the query reads (``bounded_reads``)."""
        return self._query_reads.rows(self._dialect.sql(statement), tuple(params))

    def query_logs(self, query: HistoricExternalTaskLogQuery, page: Page) -> list[HistoricExternalTaskLogDTO]:
        filters = log_filters(query, self._dialect)
        statement = (
            f"SELECT {LOG_COLUMNS} FROM {{hist_ext_task_log}}{filters.where()}"
            f"{order_by(query.sorting, LOG_SORT_COLUMNS, default='seq')}{paging(page)}"
        )
        return [log_from_row(row) for row in self._rows(statement, filters.params)]

    def count_logs(self, query: HistoricExternalTaskLogQuery) -> int:
        filters = log_filters(query, self._dialect)
        rows = self._rows(f"SELECT COUNT(*) AS n FROM {{hist_ext_task_log}}{filters.where()}", filters.params)
        return int(rows[0]["n"])

    def get_log(self, log_id: str) -> HistoricExternalTaskLogDTO | None:
        rows = self._rows(f"SELECT {LOG_COLUMNS} FROM {{hist_ext_task_log}} WHERE id = ?", (log_id,))
        return log_from_row(rows[0]) if rows else None

    def get_log_error_details(self, log_id: str) -> tuple[bool, str | None]:
        rows = self._rows("SELECT error_details FROM {hist_ext_task_log} WHERE id = ?", (log_id,))
        return (True, rows[0]["error_details"]) if rows else (False, None)

    def query_historic_incidents(self, query: HistoricIncidentQuery, page: Page) -> list[HistoricIncidentDTO]:
        rows = self._rows(*historic_incidents.select_statement(query, page, self._dialect))
        return [historic_incidents.incident_from_row(row) for row in rows]

    def count_historic_incidents(self, query: HistoricIncidentQuery) -> int:
        return int(self._rows(*historic_incidents.count_statement(query, self._dialect))[0]["n"])


def log_filters(query: HistoricExternalTaskLogQuery, dialect: Dialect) -> Filters:
    filters = Filters(dialect)
    filters.equal("id", query.log_id)
    filters.equal("external_task_id", query.external_task_id)
    filters.equal("topic_name", query.topic_name)
    filters.equal("worker_id", query.worker_id)
    filters.equal("error_message", query.error_message)
    filters.within("activity_id", query.activity_id_in)
    filters.within("activity_instance_id", query.activity_instance_id_in)
    filters.within("execution_id", query.execution_id_in)
    filters.equal("process_instance_id", query.process_instance_id)
    filters.equal("process_definition_id", query.process_definition_id)
    filters.equal("process_definition_key", query.process_definition_key)
    if query.priority_higher_than_or_equals is not None:
        filters.add("priority >= ?", query.priority_higher_than_or_equals)
    if query.priority_lower_than_or_equals is not None:
        filters.add("priority <= ?", query.priority_lower_than_or_equals)
    filters.within("tenant_id", query.tenant_id_in)
    if query.without_tenant_id:
        filters.add("tenant_id IS NULL")
    # Camunda maps the four flags onto one state filter; the last one applied wins.
    state = None
    for flag, log_state in (
        (query.creation_log, LOG_STATE_CREATED), (query.failure_log, LOG_STATE_FAILED),
        (query.success_log, LOG_STATE_SUCCESSFUL), (query.deletion_log, LOG_STATE_DELETED),
    ):
        if flag:
            state = log_state
    filters.equal("state", state)
    return filters


def log_from_row(row: Any) -> HistoricExternalTaskLogDTO:
    state = row["state"]
    return HistoricExternalTaskLogDTO(
        id=row["id"], timestamp=from_epoch_ms(row["timestamp"]), external_task_id=row["external_task_id"],
        topic_name=row["topic_name"], worker_id=row["worker_id"], priority=row["priority"],
        retries=row["retries"], error_message=row["error_message"], activity_id=row["activity_id"],
        activity_instance_id=row["activity_instance_id"], execution_id=row["execution_id"],
        process_instance_id=row["process_instance_id"],
        # Without call activities every process instance is its own root.
        root_process_instance_id=row["process_instance_id"],
        process_definition_id=row["process_definition_id"],
        process_definition_key=row["process_definition_key"], tenant_id=row["tenant_id"],
        creation_log=state == LOG_STATE_CREATED, failure_log=state == LOG_STATE_FAILED,
        success_log=state == LOG_STATE_SUCCESSFUL, deletion_log=state == LOG_STATE_DELETED,
    )
