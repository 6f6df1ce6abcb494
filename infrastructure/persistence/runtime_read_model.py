"""Queries over the runtime read model: fetch-and-lock candidates, tasks, variables, incidents.

The worker path's reads (fetch-and-lock's candidates, the variables of its answer, what a long
poll waits for) and the reads inside commands run on the worker reads; the queries of operators
(task lists and counts, incidents, process instances) on the query reads, which on PostgreSQL
have connections of their own (``bounded_reads``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from extask.application.dto import (
    ExternalTaskDTO,
    FetchAndLockRequest,
    FetchTopic,
    IncidentDTO,
    ProcessInstanceDTO,
)
from extask.application.queries import ExternalTaskQuery, IncidentQuery, Page, ProcessInstanceFilter
from extask.domain.external_task import epoch_millis
from extask.domain.variables import TypedValue
from extask.infrastructure.persistence.bounded_reads import Reads
from extask.infrastructure.persistence.query_building import Filters, order_by, paging
from extask.infrastructure.persistence.sql import Dialect, any_of, from_epoch_ms, one_of
from extask.infrastructure.persistence.task_query import instance_filters, task_filters, task_order_by

# SQLite refuses a compound SELECT of more than 500 parts: the per-topic branches of a fetch are
# unioned in groups of at most this many, and the groups unioned again.
_BRANCHES_PER_UNION = 250

TASK_COLUMNS = (
    "id, topic_name, worker_id, lock_expiration_time, retries, suspended, priority, create_time, "
    "process_instance_id, process_definition_id, process_definition_key, "
    "process_definition_version_tag, activity_id, activity_instance_id, execution_id, business_key, "
    "tenant_id, error_message"
)

INCIDENT_SORT_COLUMNS = {
    "incidentId": "id", "incidentMessage": "incident_message", "incidentTimestamp": "incident_timestamp",
    "incidentType": "incident_type", "executionId": "execution_id", "activityId": "activity_id",
    "processInstanceId": "process_instance_id", "processDefinitionId": "process_definition_id",
    "causeIncidentId": "id", "rootCauseIncidentId": "id", "configuration": "configuration",
    "tenantId": "tenant_id",
}


class SqlRuntimeReadModel:
    def __init__(self, worker_reads: Reads, query_reads: Reads, dialect: Dialect) -> None:
        self._worker_reads = worker_reads
        self._query_reads = query_reads
        self._dialect = dialect

    def _rows(
        self, statement: str, params: Iterable[Any] = (), *, keyed: bool = False, worker: bool = False
    ) -> list[Any]:
        return self._select(self._dialect.sql(statement), tuple(params), keyed=keyed, worker=worker)

    def _select(
        self, statement: str, params: tuple[Any, ...], *, keyed: bool = False, worker: bool = False
    ) -> list[Any]:
        """The rows of one statement in the backend's SQL: on the worker reads if ``worker`` or
        ``keyed``, else on the query reads. ``keyed``: a statement of fetch-and-lock, which finds
        its rows by key or reads the first entries of an index in its order. On a table never
        analysed, or analysed while it was small, PostgreSQL would trade that for scanning the
        whole table, or for reading every match and sorting them; and a plan it made so while the
        table was small it keeps for the connection's life, however much the table grows.
        Sequential and bitmap scans are turned off for the statement
        (tests/integration/test_fetch_plan.py, tests/e2e/test_steady_state.py)."""
        if keyed or worker:
            return self._worker_reads.rows(statement, params, keyed=keyed)
        return self._query_reads.rows(statement, params)

    # -- fetch-and-lock -------------------------------------------------------------------------

    def select_fetchable(self, request: FetchAndLockRequest, now: datetime) -> list[tuple[str, str]]:
        statement, params = self.fetchable_statement(request, now)
        rows = self._select(statement, params, keyed=_walks_index(request), worker=True)
        return [(row["id"], row["topic_name"]) for row in rows]

    def explain_fetchable(self, request: FetchAndLockRequest, now: datetime) -> str:
        """The database's plan for the candidate query, chosen as ``select_fetchable`` has it chosen."""
        statement, params = self.fetchable_statement(request, now)
        if self._dialect.name != "postgres":
            rows = self._select("EXPLAIN QUERY PLAN " + statement, params, worker=True)
            return "\n".join(row["detail"] for row in rows)
        rows = self._select("EXPLAIN " + statement, params, keyed=_walks_index(request), worker=True)
        return "\n".join(row["QUERY PLAN"] for row in rows)

    def fetchable_statement(self, request: FetchAndLockRequest, now: datetime) -> tuple[str, tuple[Any, ...]]:
        """The candidate query in the backend's SQL, with its parameters."""
        ordering = []
        if request.use_priority:
            ordering.append("priority DESC")
        ordering += [f"create_time {order.upper()}" for _, order in request.sorting]
        if not ordering:
            return self._fetchable_by_topic(request, now)
        filters = self._fetchable_filters(now)
        self._add_topics(filters, request.topics)
        statement = f"SELECT id, topic_name FROM {{ext_task}} t{filters.where()} ORDER BY {', '.join(ordering)} LIMIT ?"
        return self._dialect.sql(statement), (*filters.params, request.max_tasks)

    def _fetchable_by_topic(self, request: FetchAndLockRequest, now: datetime) -> tuple[str, tuple[Any, ...]]:
        """Without a requested order: per topic, the first ``max_tasks`` entries of its range of
        ext_task_fetchable_v2, those free longest first and, among equals, the oldest. Walking the
        index in its own order reads no more than that, however large the table; left free to
        choose, the planner would scan the table itself once it expects matches to be common, and
        read every locked row on the way."""
        branches, params = [], []
        # On a table never analysed (a new one, or one that just grew fast) PostgreSQL believes few
        # rows match, and would rather read all of a topic's matches and sort them; ``_select``
        # is told to keep it walking the index (``keyed``).
        for topic in request.topics:
            filters = self._fetchable_filters(now)
            clause, topic_params = self._topic_clause(topic)
            filters.add(clause, *topic_params)
            branches.append(
                "SELECT * FROM (SELECT id, topic_name, COALESCE(lock_expiration_time, 0) AS free_since, "
                f"create_time FROM {{ext_task}} t{filters.where()} "
                "ORDER BY COALESCE(lock_expiration_time, 0), create_time LIMIT ?) b"
            )
            params += [*filters.params, request.max_tasks]
        # UNION: a topic asked for twice (with other filters) must not offer a task twice.
        groups = [branches[i : i + _BRANCHES_PER_UNION] for i in range(0, len(branches), _BRANCHES_PER_UNION)]
        unions = [" UNION ".join(group) for group in groups]
        if len(unions) > 1:
            unions = [" UNION ".join(f"SELECT * FROM ({union}) g" for union in unions)]
        statement = f"SELECT id, topic_name FROM ({unions[0]}) c ORDER BY free_since, create_time LIMIT ?"
        return self._dialect.sql(statement), (*params, request.max_tasks)

    def _fetchable_filters(self, now: datetime) -> Filters:
        filters = Filters(self._dialect)
        # The literals match ext_task_fetchable_v2's predicate; an unlocked task counts as expired at 0.
        filters.add("COALESCE(lock_expiration_time, 0) <= ?", epoch_millis(now))
        filters.add("suspended = FALSE")
        filters.add("(retries IS NULL OR retries > 0)")
        return filters

    def next_availability(self, topics: Sequence[FetchTopic], now: datetime) -> datetime | None:
        """The earliest moment at which a task these topics would fetch (not suspended, retries
        left) is or becomes fetchable: the past if one already is; None if there is none.

        Not only expiries after ``now``: a lock may expire between a poll's fetch and this query,
        and a poll told "nothing ahead" would then sleep until its timeout."""
        if not topics:
            return None
        filters = Filters(self._dialect)
        filters.add("suspended = ?", False)
        filters.add("(retries IS NULL OR retries > 0)")
        self._add_topics(filters, topics)
        statement = f"SELECT MIN(COALESCE(lock_expiration_time, 0)) AS at FROM {{ext_task}} t{filters.where()}"
        return from_epoch_ms(self._rows(statement, filters.params, keyed=True)[0]["at"])

    def earliest_by_topic(self, topic_names: Sequence[str]) -> dict[str, datetime]:
        """Per topic, the earliest moment one of its tasks is fetchable (the epoch if one is
        unlocked), filters aside; topics without a task that could ever be fetched are left out."""
        if not topic_names:
            return {}
        topic_is_one, topics = one_of(self._dialect, "topic_name", topic_names)
        rows = self._rows(
            "SELECT topic_name, MIN(COALESCE(lock_expiration_time, 0)) AS at FROM {ext_task} "
            f"WHERE {topic_is_one} AND suspended = ? AND (retries IS NULL OR retries > 0) GROUP BY topic_name",
            [topics, False],
            keyed=True,
        )
        return {row["topic_name"]: from_epoch_ms(row["at"]) for row in rows}

    def _add_topics(self, filters: Filters, topics: Sequence[FetchTopic]) -> None:
        """A task of one of the topics, with that topic's filters: the topics asked for by name
        alone are one membership test (one parameter however many), the others one OR each."""
        by_name_only: list[str] = []
        clauses: list[str] = []
        params: list[Any] = []
        for topic in topics:
            topic_filters = self._topic_filters(topic)
            if len(topic_filters.clauses) == 1:  # its name's
                by_name_only.append(topic.topic_name)
            else:
                clauses.append(" AND ".join(topic_filters.clauses))
                params += topic_filters.params
        if by_name_only:
            clause, names = one_of(self._dialect, "topic_name", by_name_only)
            clauses.insert(0, clause)
            params.insert(0, names)
        filters.add(f"({any_of(clauses)})", *params)

    def _topic_clause(self, topic: FetchTopic) -> tuple[str, list[Any]]:
        filters = self._topic_filters(topic)
        return "(" + " AND ".join(filters.clauses) + ")", filters.params

    def _topic_filters(self, topic: FetchTopic) -> Filters:
        filters = Filters(self._dialect)
        filters.add("topic_name = ?", topic.topic_name)
        filters.equal("business_key", topic.business_key)
        filters.equal("process_definition_id", topic.process_definition_id)
        filters.within("process_definition_id", topic.process_definition_id_in)
        filters.equal("process_definition_key", topic.process_definition_key)
        filters.within("process_definition_key", topic.process_definition_key_in)
        filters.like("process_definition_version_tag", topic.process_definition_version_tag)
        if topic.tenant_id_in:
            filters.within("tenant_id", topic.tenant_id_in)
        elif topic.without_tenant_id:
            filters.add("tenant_id IS NULL")
        if topic.process_variables:
            # Camunda ORs the listed variables: one matching variable qualifies the instance.
            matches = " OR ".join("(v.name = ? AND v.value = ?)" for _ in topic.process_variables)
            params = [p for name, raw in topic.process_variables.items() for p in (name, json.dumps(raw))]
            filters.add(
                "EXISTS (SELECT 1 FROM {proc_var} v WHERE v.process_instance_id = t.process_instance_id "
                f"AND ({matches}))",
                *params,
            )
        return filters

    # -- tasks ----------------------------------------------------------------------------------

    def get_task(self, task_id: str) -> ExternalTaskDTO | None:
        # Reads by key, answered at once: on the worker reads, never refused for busy queries.
        rows = self._rows(f"SELECT {TASK_COLUMNS} FROM {{ext_task}} WHERE id = ?", (task_id,), worker=True)
        return task_from_row(rows[0]) if rows else None

    def get_error_details(self, task_id: str) -> tuple[bool, str | None]:
        rows = self._rows("SELECT error_details FROM {ext_task} WHERE id = ?", (task_id,), worker=True)
        return (True, rows[0]["error_details"]) if rows else (False, None)

    def task_ids_of_process_instance(self, process_instance_id: str) -> list[str]:
        # Read inside the commands on a process instance: not to be refused for busy queries.
        rows = self._rows(
            "SELECT id FROM {ext_task} WHERE process_instance_id = ? ORDER BY id", (process_instance_id,), worker=True
        )
        return [row["id"] for row in rows]

    # -- task queries (GET/POST /external-task, /count, /topic-names) ----------------------------

    def query_tasks(self, query: ExternalTaskQuery, page: Page, now: datetime) -> list[ExternalTaskDTO]:
        filters = task_filters(query, now, self._dialect)
        statement = (
            f"SELECT {TASK_COLUMNS} FROM {{ext_task}} t{filters.where()}"
            f"{task_order_by(query.sorting, self._dialect)}{paging(page)}"
        )
        return [task_from_row(row) for row in self._rows(statement, filters.params)]

    def count_tasks(self, query: ExternalTaskQuery, now: datetime) -> int:
        filters = task_filters(query, now, self._dialect)
        return int(self._rows(f"SELECT COUNT(*) AS n FROM {{ext_task}} t{filters.where()}", filters.params)[0]["n"])

    def task_ids(self, query: ExternalTaskQuery, now: datetime, limit: int | None = None) -> list[str]:
        filters = task_filters(query, now, self._dialect)
        statement = f"SELECT t.id FROM {{ext_task}} t{filters.where()}{task_order_by([], self._dialect)}"
        return [row["id"] for row in self._rows(statement + paging(Page(max_results=limit)), filters.params)]

    def topic_names(self, query: ExternalTaskQuery, now: datetime) -> list[str]:
        filters = task_filters(query, now, self._dialect)
        rows = self._rows(f"SELECT DISTINCT t.topic_name FROM {{ext_task}} t{filters.where()}", filters.params)
        return sorted(row["topic_name"] for row in rows)

    def process_instance_ids(self, instance_filter: ProcessInstanceFilter, limit: int | None = None) -> list[str]:
        filters = instance_filters(instance_filter, self._dialect)
        statement = f"SELECT p.id FROM {{proc_inst}} p{filters.where()} ORDER BY p.id{paging(Page(max_results=limit))}"
        return [row["id"] for row in self._rows(statement, filters.params)]

    # -- process instances and variables --------------------------------------------------------

    def get_process_instance(self, process_instance_id: str) -> ProcessInstanceDTO | None:
        rows = self._rows(
            "SELECT id, business_key, process_definition_id, process_definition_key, tenant_id, suspended "
            "FROM {proc_inst} WHERE id = ?",
            (process_instance_id,),
            worker=True,
        )
        if not rows:
            return None
        row = rows[0]
        return ProcessInstanceDTO(
            id=row["id"], business_key=row["business_key"],
            process_definition_id=row["process_definition_id"],
            process_definition_key=row["process_definition_key"], tenant_id=row["tenant_id"],
            suspended=bool(row["suspended"]), ended=False,
        )

    def process_variables(self, process_instance_ids: Iterable[str]) -> dict[str, dict[str, TypedValue]]:
        ids = list(process_instance_ids)
        if not ids:
            return {}
        instance_is_one, instances = one_of(self._dialect, "process_instance_id", ids)
        rows = self._rows(
            f"SELECT process_instance_id, name, type, value, value_info FROM {{proc_var}} WHERE {instance_is_one} "
            "ORDER BY name",
            [instances],
            keyed=True,
        )
        variables: dict[str, dict[str, TypedValue]] = {}
        for row in rows:
            variables.setdefault(row["process_instance_id"], {})[row["name"]] = TypedValue(
                type=row["type"], value=json.loads(row["value"]), value_info=json.loads(row["value_info"])
            )
        return variables

    def execution_local_variables(self, execution_id: str) -> dict[str, TypedValue] | None:
        # No index on execution_id: this endpoint is rare, and every index slows the write path.
        if not self._rows("SELECT 1 FROM {ext_task} WHERE execution_id = ? LIMIT 1", (execution_id,)):
            return None
        rows = self._rows(
            "SELECT name, type, value, value_info FROM {task_var} WHERE execution_id = ? ORDER BY name",
            (execution_id,),
        )
        return {
            row["name"]: TypedValue(
                type=row["type"], value=json.loads(row["value"]), value_info=json.loads(row["value_info"])
            )
            for row in rows
        }

    # -- incidents ------------------------------------------------------------------------------

    def query_incidents(self, query: IncidentQuery, page: Page) -> list[IncidentDTO]:
        filters = incident_filters(query, self._dialect)
        statement = (
            "SELECT id, incident_timestamp, incident_type, incident_message, configuration, "
            "process_instance_id, process_definition_id, execution_id, activity_id, tenant_id, annotation "
            f"FROM {{incident}}{filters.where()}"
            f"{order_by(query.sorting, INCIDENT_SORT_COLUMNS, default='id')}{paging(page)}"
        )
        return [incident_from_row(row) for row in self._rows(statement, filters.params)]

    def count_incidents(self, query: IncidentQuery) -> int:
        filters = incident_filters(query, self._dialect)
        rows = self._rows(f"SELECT COUNT(*) AS n FROM {{incident}}{filters.where()}", filters.params)
        return int(rows[0]["n"])


def _walks_index(request: FetchAndLockRequest) -> bool:
    """Without a requested order, the candidates are the first entries of ext_task_fetchable_v2."""
    return not (request.use_priority or request.sorting)


def incident_filters(query: IncidentQuery, dialect: Dialect) -> Filters:
    filters = Filters(dialect)
    filters.equal("id", query.incident_id)
    filters.equal("id", query.cause_incident_id)
    filters.equal("id", query.root_cause_incident_id)
    filters.equal("incident_type", query.incident_type)
    filters.equal("incident_message", query.incident_message)
    filters.like("incident_message", query.incident_message_like)
    filters.equal("process_definition_id", query.process_definition_id)
    filters.within("process_definition_key", query.process_definition_key_in)
    filters.equal("process_instance_id", query.process_instance_id)
    filters.equal("execution_id", query.execution_id)
    filters.equal("activity_id", query.activity_id)
    if query.failed_activity_id is not None or query.job_definition_id_in:
        filters.add("1 = 0")  # external-task incidents have neither
    filters.equal("configuration", query.configuration)
    filters.within("tenant_id", query.tenant_id_in)
    if query.incident_timestamp_before is not None:
        filters.add("incident_timestamp < ?", epoch_millis(query.incident_timestamp_before))
    if query.incident_timestamp_after is not None:
        filters.add("incident_timestamp > ?", epoch_millis(query.incident_timestamp_after))
    return filters


def task_from_row(row: Any) -> ExternalTaskDTO:
    return ExternalTaskDTO(
        id=row["id"], topic_name=row["topic_name"], worker_id=row["worker_id"],
        lock_expiration_time=from_epoch_ms(row["lock_expiration_time"]),
        create_time=from_epoch_ms(row["create_time"]), retries=row["retries"],
        error_message=row["error_message"], suspended=bool(row["suspended"]),
        priority=row["priority"], process_instance_id=row["process_instance_id"],
        process_definition_id=row["process_definition_id"],
        process_definition_key=row["process_definition_key"],
        process_definition_version_tag=row["process_definition_version_tag"],
        activity_id=row["activity_id"], activity_instance_id=row["activity_instance_id"],
        execution_id=row["execution_id"], tenant_id=row["tenant_id"], business_key=row["business_key"],
    )


def incident_from_row(row: Any) -> IncidentDTO:
    return IncidentDTO(
        id=row["id"], incident_timestamp=from_epoch_ms(row["incident_timestamp"]),
        incident_type=row["incident_type"], incident_message=row["incident_message"],
        configuration=row["configuration"], process_instance_id=row["process_instance_id"],
        process_definition_id=row["process_definition_id"], execution_id=row["execution_id"],
        activity_id=row["activity_id"], tenant_id=row["tenant_id"],
        cause_incident_id=row["id"], root_cause_incident_id=row["id"], annotation=row["annotation"],
    )
