"""The read side of ExternalTaskService: runtime, history and incident queries, answered from the read models.

Queries never load aggregates; history queries first bring the history projection up to the
position current at the time of the query, so they see every command that returned before.
Every query a caller hands in is first held to the limits on its size (``conditions_per_query``,
``values_per_list``), embedded callers' as much as the REST API's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from extask.application.dto import (
    ExternalTaskDTO,
    HistoricExternalTaskLogDTO,
    HistoricIncidentDTO,
    IncidentDTO,
    ProcessInstanceDTO,
)
from extask.application.errors import BadRequest, NotFound
from extask.application.limits import Limits, check_count
from extask.application.ports import Clock, HistoryReadModel, RuntimeReadModel
from extask.application.queries import (
    HISTORIC_INCIDENT_SORT_KEYS,
    HISTORIC_LOG_SORT_KEYS,
    INCIDENT_SORT_KEYS,
    SORT_ORDERS,
    ExternalTaskQuery,
    HistoricExternalTaskLogQuery,
    HistoricIncidentQuery,
    IncidentQuery,
    Page,
    RetriesSelection,
)
from extask.application.query_checks import check_query_size, check_task_query
from extask.domain.external_task import to_millisecond
from extask.domain.variables import TypedValue


class ExternalTaskReads:
    _runtime: RuntimeReadModel
    _history: HistoryReadModel
    _clock: Clock
    limits: Limits

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

    def get_process_variable(self, process_instance_id: str, name: str) -> TypedValue:
        variable = self.get_process_variables(process_instance_id).get(name)
        if variable is None:
            raise NotFound(
                f"process instance variable with name {name} does not exist", "InvalidRequestException"
            )
        return variable

    def get_execution_local_variable(self, execution_id: str, name: str) -> TypedValue:
        """A variable of an execution's own scope: a task's local variables (found by the task's
        execution id) or, for a process instance id, the process variables; the JS client reads
        File variables this way."""
        local = self._runtime.execution_local_variables(execution_id)
        instance = self._runtime.get_process_instance(execution_id)
        if local is None and instance is None:
            raise NotFound(f"Execution with id {execution_id} does not exist", "InvalidRequestException")
        variables = self._runtime.process_variables([execution_id]).get(execution_id, {}) if instance else {}
        variables = {**variables, **(local or {})}
        if name not in variables:
            raise NotFound(f"execution variable with name {name} does not exist", "InvalidRequestException")
        return variables[name]

    # -- runtime task queries -------------------------------------------------------------------

    def query_tasks(self, query: ExternalTaskQuery, page: Page = Page()) -> list[ExternalTaskDTO]:
        """Tasks matching every filter of the query, in its sorting order, then by id."""
        check_query_size(query, self.limits)
        sorting = check_task_query(query)
        return self._runtime.query_tasks(replace(query, sorting=sorting), page, self._query_time())

    def count_tasks(self, query: ExternalTaskQuery) -> int:
        check_query_size(query, self.limits)
        check_task_query(query)
        return self._runtime.count_tasks(query, self._query_time())

    def topic_names(
        self, with_locked_tasks: bool = False, with_unlocked_tasks: bool = False, with_retries_left: bool = False
    ) -> list[str]:
        """The distinct topics of runtime tasks, sorted; locked means a lock expiring after now,
        unlocked no lock or an expired one (so both together select nothing)."""
        query = ExternalTaskQuery(
            locked=with_locked_tasks, not_locked=with_unlocked_tasks, with_retries_left=with_retries_left
        )
        return self._runtime.topic_names(query, self._query_time())

    def external_task_ids(self, selection: RetriesSelection) -> list[str]:
        """The tasks a bulk retries command selects, each once: the explicit ids (kept even when
        unknown, so the command can report them), the query's tasks, then the tasks of the
        selected process instances. The queries read no more than the command may take (one
        task beyond ``items_per_batch``, which the command refuses), and at most
        ``values_per_list`` process instances."""
        for query in (
            selection.external_task_query, selection.process_instance_query, selection.historic_process_instance_query
        ):
            if query is not None:
                check_query_size(query, self.limits)
        check_count(
            len(selection.process_instance_ids or []), self.limits.values_per_list,
            "Values in processInstanceIds", "values_per_list",
        )
        if selection.external_task_query is not None:
            check_task_query(selection.external_task_query)
        if any(task_id is None for task_id in selection.external_task_ids or []):
            raise BadRequest("External task id cannot be null: externalTaskIds contains null value")
        now = self._query_time()
        # A query reads one more task than a bulk command may take: enough to refuse it.
        tasks, instances = self.limits.items_per_batch + 1, self.limits.values_per_list
        ids = list(selection.external_task_ids or [])
        if selection.external_task_query is not None:
            ids += self._runtime.task_ids(selection.external_task_query, now, limit=tasks)
        instance_ids = list(selection.process_instance_ids or [])
        for instance_filter in (selection.process_instance_query, selection.historic_process_instance_query):
            if instance_filter is not None:
                instance_ids += self._runtime.process_instance_ids(instance_filter, limit=instances + 1)
        instance_ids = list(dict.fromkeys(instance_ids))
        check_count(len(instance_ids), instances, "Process instances selected", "values_per_list")
        if instance_ids:
            by_instance = ExternalTaskQuery(process_instance_id_in=instance_ids)
            check_task_query(by_instance)
            ids += self._runtime.task_ids(by_instance, now, limit=tasks)
        if not ids:
            raise BadRequest("externalTaskIds is empty")
        return list(dict.fromkeys(ids))  # type: ignore[arg-type]

    def _query_time(self) -> datetime:
        return to_millisecond(self._clock())

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
        check_query_size(query, self.limits)
        self._check_sorting(query.sorting, HISTORIC_LOG_SORT_KEYS)
        query.check()
        self._history.catch_up()
        return self._history.query_logs(query, page)

    def count_history_log(self, query: HistoricExternalTaskLogQuery) -> int:
        check_query_size(query, self.limits)
        query.check()
        self._history.catch_up()
        return self._history.count_logs(query)

    def query_historic_incidents(
        self, query: HistoricIncidentQuery, page: Page = Page()
    ) -> list[HistoricIncidentDTO]:
        check_query_size(query, self.limits)
        self._check_sorting(query.sorting, HISTORIC_INCIDENT_SORT_KEYS)
        self._history.catch_up()
        return self._history.query_historic_incidents(query, page)

    def count_historic_incidents(self, query: HistoricIncidentQuery) -> int:
        check_query_size(query, self.limits)
        self._history.catch_up()
        return self._history.count_historic_incidents(query)

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
        check_query_size(query, self.limits)
        self._check_sorting(query.sorting, INCIDENT_SORT_KEYS)
        return self._runtime.query_incidents(query, page)

    def count_incidents(self, query: IncidentQuery) -> int:
        check_query_size(query, self.limits)
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
