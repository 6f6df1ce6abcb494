"""The read side of ExternalTaskService: runtime, history and incident queries, answered from the read models.

Queries never load aggregates; history queries first bring the history projection up to the
position current at the time of the query, so they see every command that returned before.
"""

from __future__ import annotations

from collections.abc import Sequence

from application.dto import (
    ExternalTaskDTO,
    HistoricExternalTaskLogDTO,
    IncidentDTO,
    ProcessInstanceDTO,
)
from application.errors import BadRequest, NotFound
from application.ports import HistoryReadModel, RuntimeReadModel
from application.queries import (
    HISTORIC_LOG_SORT_KEYS,
    INCIDENT_SORT_KEYS,
    SORT_ORDERS,
    HistoricExternalTaskLogQuery,
    IncidentQuery,
    Page,
)
from domain.variables import TypedValue


class ExternalTaskReads:
    _runtime: RuntimeReadModel
    _history: HistoryReadModel

    # -- process instances ----------------------------------------------------------------------

    def get_process_variables(self, process_instance_id: str) -> dict[str, TypedValue]:
        self.get_process_instance(process_instance_id)
        return self._runtime.process_variables([process_instance_id]).get(process_instance_id, {})

    def get_process_instance(self, process_instance_id: str) -> ProcessInstanceDTO:
        instance = self._runtime.get_process_instance(process_instance_id)
        if instance is None:
            raise NotFound(
                f"Process instance with id {process_instance_id} does not exist", "InvalidRequestException"
            )
        return instance

    # -- tasks, history and incidents -----------------------------------------------------------

    def get_task(self, task_id: str) -> ExternalTaskDTO:
        task = self._runtime.get_task(task_id)
        if task is None:
            raise NotFound(f"External task with id {task_id} does not exist")
        return task

    def get_error_details(self, task_id: str) -> str | None:
        exists, details = self._runtime.get_error_details(task_id)
        if not exists:
            raise NotFound(
                f"No external task found with id {task_id}: externalTask is null", "NullValueException"
            )
        return details

    def query_history_log(
        self, query: HistoricExternalTaskLogQuery, page: Page = Page()
    ) -> list[HistoricExternalTaskLogDTO]:
        self._check_sorting(query.sorting, HISTORIC_LOG_SORT_KEYS)
        self._history.catch_up()
        return self._history.query_logs(query, page)

    def count_history_log(self, query: HistoricExternalTaskLogQuery) -> int:
        self._history.catch_up()
        return self._history.count_logs(query)

    def get_history_log(self, log_id: str) -> HistoricExternalTaskLogDTO:
        self._history.catch_up()
        log = self._history.get_log(log_id)
        if log is None:
            raise NotFound(f"Historic external task log with id {log_id} does not exist", "InvalidRequestException")
        return log

    def get_history_log_error_details(self, log_id: str) -> str | None:
        if log_id is None:
            # Camunda reports every engine error of this endpoint as "not found", this one too.
            raise NotFound("historicExternalTaskLogId is null", "InvalidRequestException")
        self._history.catch_up()
        exists, details = self._history.get_log_error_details(log_id)
        if not exists:
            raise NotFound(
                f"No historic external task log found with id {log_id}: historicExternalTaskLog is null",
                "InvalidRequestException",
            )
        return details

    def query_incidents(self, query: IncidentQuery, page: Page = Page()) -> list[IncidentDTO]:
        self._check_sorting(query.sorting, INCIDENT_SORT_KEYS)
        return self._runtime.query_incidents(query, page)

    def count_incidents(self, query: IncidentQuery) -> int:
        return self._runtime.count_incidents(query)

    def get_incident(self, incident_id: str) -> IncidentDTO:
        found = self._runtime.query_incidents(IncidentQuery(incident_id=incident_id), Page())
        if not found:
            raise NotFound(f"No matching incident with id {incident_id}", "InvalidRequestException")
        return found[0]

    @staticmethod
    def _check_sorting(sorting: Sequence[tuple[str, str]], allowed: Sequence[str]) -> None:
        for key, order in sorting:
            if key not in allowed:
                raise BadRequest(f"Cannot set query parameter 'sortBy' to value '{key}'")
            if order not in SORT_ORDERS:
                raise BadRequest(f"Cannot set query parameter 'sortOrder' to value '{order}'")
