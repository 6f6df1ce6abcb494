"""SQL for the incident history (``hist_incident``, written by the history projection).

An external-task incident is its own cause and root cause, has no failed activity and no job
definition, and belongs to a top-level process instance (extask has no call activities), so its
root process instance is its own process instance.
"""

from __future__ import annotations

from typing import Any

from extask.application.dto import HistoricIncidentDTO
from extask.application.queries import HistoricIncidentQuery, Page
from extask.domain.external_task import epoch_millis
from extask.infrastructure.persistence.query_building import Filters, order_by, paging
from extask.infrastructure.persistence.sql import Dialect, from_epoch_ms

COLUMNS = (
    "id, create_time, end_time, state, incident_type, incident_message, configuration, "
    "history_configuration, process_instance_id, process_definition_id, process_definition_key, "
    "execution_id, activity_id, tenant_id, annotation"
)
# Camunda stores the state as 0 open, 1 resolved, 2 deleted, and sorts by that number.
STATE_ORDER = "CASE state WHEN 'open' THEN 0 WHEN 'resolved' THEN 1 ELSE 2 END"
SORT_COLUMNS = {
    "incidentId": "id", "incidentMessage": "incident_message", "createTime": "create_time",
    "endTime": "end_time", "incidentType": "incident_type", "executionId": "execution_id",
    "activityId": "activity_id", "processInstanceId": "process_instance_id",
    "processDefinitionId": "process_definition_id", "processDefinitionKey": "process_definition_key",
    "causeIncidentId": "id", "rootCauseIncidentId": "id", "configuration": "configuration",
    "historyConfiguration": "history_configuration", "tenantId": "tenant_id", "incidentState": STATE_ORDER,
}


def select_statement(query: HistoricIncidentQuery, page: Page, dialect: Dialect) -> tuple[str, list[Any]]:
    filters = incident_filters(query, dialect)
    statement = (
        f"SELECT {COLUMNS} FROM {{hist_incident}}{filters.where()}"
        f"{order_by(query.sorting, SORT_COLUMNS, default='id')}{paging(page)}"
    )
    return statement, filters.params


def count_statement(query: HistoricIncidentQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    filters = incident_filters(query, dialect)
    return f"SELECT COUNT(*) AS n FROM {{hist_incident}}{filters.where()}", filters.params


def incident_filters(query: HistoricIncidentQuery, dialect: Dialect) -> Filters:
    filters = Filters(dialect)
    for column, value in (
        ("id", query.incident_id), ("id", query.cause_incident_id), ("id", query.root_cause_incident_id),
        ("incident_type", query.incident_type), ("incident_message", query.incident_message),
        ("process_definition_id", query.process_definition_id),
        ("process_definition_key", query.process_definition_key),
        ("process_instance_id", query.process_instance_id), ("execution_id", query.execution_id),
        ("activity_id", query.activity_id), ("configuration", query.configuration),
        ("history_configuration", query.history_configuration),
    ):
        filters.equal(column, value)
    filters.like("incident_message", query.incident_message_like)
    filters.within("process_definition_key", query.process_definition_key_in)
    filters.within("tenant_id", query.tenant_id_in)
    if query.without_tenant_id:
        filters.add("tenant_id IS NULL")
    if query.failed_activity_id is not None or query.job_definition_id_in:
        filters.add("1 = 0")  # external-task incidents have neither
    for clause, moment in (
        ("create_time <= ?", query.create_time_before), ("create_time >= ?", query.create_time_after),
        ("end_time <= ?", query.end_time_before), ("end_time >= ?", query.end_time_after),
    ):
        if moment is not None:
            filters.add(clause, epoch_millis(moment))
    # One state filter, as in Camunda: of open, resolved and deleted the last one set wins.
    state = None
    for flag, name in ((query.open, "open"), (query.resolved, "resolved"), (query.deleted, "deleted")):
        if flag:
            state = name
    filters.equal("state", state)
    return filters


def incident_from_row(row: Any) -> HistoricIncidentDTO:
    return HistoricIncidentDTO(
        id=row["id"], create_time=from_epoch_ms(row["create_time"]),  # type: ignore[arg-type]
        end_time=from_epoch_ms(row["end_time"]), incident_type=row["incident_type"],
        incident_message=row["incident_message"], configuration=row["configuration"],
        history_configuration=row["history_configuration"],
        process_instance_id=row["process_instance_id"],
        root_process_instance_id=row["process_instance_id"],
        process_definition_id=row["process_definition_id"],
        process_definition_key=row["process_definition_key"], execution_id=row["execution_id"],
        activity_id=row["activity_id"], tenant_id=row["tenant_id"],
        cause_incident_id=row["id"], root_cause_incident_id=row["id"],
        open=row["state"] == "open", resolved=row["state"] == "resolved", deleted=row["state"] == "deleted",
        annotation=row["annotation"],
    )
