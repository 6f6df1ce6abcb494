"""A query asks only so much of the engine (issue 23, points 1 and 5), on both backends.

- No more variable conditions than ``conditions_per_query``, and no list of more values than
  ``values_per_list``, in any query: refused with a 400 that names the limit, for embedded
  callers as for the REST API.
- A list travels as one parameter, however long: 100,000 ids are a filter like any other, as
  are thousands of topics in a fetch or in what the long polls wait for.
- No read runs longer than ``query_seconds``: it is stopped with a 400 that names the limit, and
  the connection it ran on serves the next read.
- On PostgreSQL the queries have connections of their own: however many heavy ones run at once,
  commands and fetches keep theirs, and a query that finds none free is told so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.application.errors import ApplicationError, BadRequest
from extask.application.limits import Limits
from extask.application.queries import (
    ExternalTaskQuery,
    HistoricExternalTaskLogQuery,
    HistoricIncidentQuery,
    IncidentQuery,
    ProcessInstanceFilter,
    RetriesSelection,
    VariableCondition,
)
from extask.infrastructure.bootstrap import Engine, build_engine
from extask.infrastructure.persistence import bounded_reads
from extask.infrastructure.persistence.bounded_reads import PostgresQueryPool, QueriesBusy, QueryTimedOut
from extask.infrastructure.persistence.database import settings_from_url

WORKER = "w"
# Statements that would run for many seconds; the tests stop them after a fraction of one.
SLOW = {
    "postgres": "SELECT COUNT(*) AS n FROM generate_series(1, 30000) a, generate_series(1, 30000) b",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) "
    "SELECT COUNT(*) AS n FROM c",
}
STOPPED_WITHIN_SECONDS = 5.0  # the slow statements run far longer than this when left alone
# Holds a query connection without taking a core; a marker finds it in the server's activity view.
SLEEPING = "SELECT pg_sleep(30) AS n /* heavy query of test_query_limits */"


@pytest.fixture
def limited(database_url: str, clock) -> Iterator[Engine]:
    engine = build_engine(
        database_url, clock=clock, limits=Limits(conditions_per_query=3, values_per_list=4, query_seconds=0.3)
    )
    yield engine
    engine.close()


@pytest.fixture
def roomy(database_url: str, clock) -> Iterator[Engine]:
    """Limits far above what the long lists below hold: only the database could refuse them."""
    engine = build_engine(database_url, clock=clock, limits=Limits(values_per_list=1_000_000, topics_per_fetch=10_000))
    yield engine
    engine.close()


def dialect_of(engine: Engine) -> str:
    return engine.runtime._dialect.name


def conditions(count: int) -> list[VariableCondition]:
    return [VariableCondition("amount", "gteq", i) for i in range(count)]


def refused(call: Callable[[], Any]) -> str:
    with pytest.raises(BadRequest) as refusal:
        call()
    return refusal.value.message


def fail_without_retries(engine: Engine, topic: str) -> None:
    """Fetch every task of the topic and fail each for good: one incident each."""
    topics = [FetchTopic(topic_name=topic, lock_duration=60_000)]
    request = FetchAndLockRequest(worker_id=WORKER, max_tasks=100, topics=topics)
    for locked in engine.service.fetch_and_lock(request):
        engine.service.handle_failure(locked.task.id, WORKER, error_message="no luck", retries=0)


def others(count: int) -> list[str]:
    return [f"other-{i}" for i in range(count)]


class TestConditionsPerQuery:
    @pytest.mark.parametrize(
        "ask",
        [
            lambda service, query: service.count_tasks(query),
            lambda service, query: service.query_tasks(query),
            lambda service, query: service.external_task_ids(RetriesSelection(external_task_query=query)),
        ],
        ids=["count", "list", "retries selection"],
    )
    def test_a_task_query_with_more_conditions_than_the_limit_is_refused_naming_it(self, limited, ask):
        message = refused(lambda: ask(limited.service, ExternalTaskQuery(process_variables=conditions(4))))
        assert message == "Conditions in processVariables: 4 is more than the limit of 3 (conditions_per_query)"

    def test_a_task_query_with_as_many_conditions_as_the_limit_is_answered(self, limited):
        limited.service.create(NewExternalTask(topic_name="t", variables={"amount": 5}))
        assert limited.service.count_tasks(ExternalTaskQuery(process_variables=conditions(3))) == 1

    def test_a_count_with_200_conditions_is_answered_in_well_under_the_time_limit(self, database_url, clock):
        """PostgreSQL took half a minute to plan one subquery for each of 200 conditions; now they
        are one subquery, planned at once whatever their number."""
        engine = build_engine(database_url, clock=clock, limits=Limits(conditions_per_query=200, query_seconds=5))
        try:
            engine.service.create_many(
                [NewExternalTask(topic_name="t", variables={"amount": i, "name": f"n{i}"}) for i in range(300)]
            )
            many = [
                *(VariableCondition("amount", "gteq", i) for i in range(100)),
                *(VariableCondition("name", "like", "n%") for _ in range(100)),
            ]
            started = time.monotonic()
            assert engine.service.count_tasks(ExternalTaskQuery(process_variables=many)) == 201  # amount 99 to 299
            assert time.monotonic() - started < 5
        finally:
            engine.close()


LISTS: list[tuple[str, Callable[[Any, list[str]], Any]]] = [
    ("externalTaskIdIn", lambda s, v: s.count_tasks(ExternalTaskQuery(external_task_id_in=v))),
    ("activityIdIn", lambda s, v: s.query_tasks(ExternalTaskQuery(activity_id_in=v))),
    ("processInstanceIdIn", lambda s, v: s.count_tasks(ExternalTaskQuery(process_instance_id_in=v))),
    ("processDefinitionKeyIn", lambda s, v: s.count_tasks(ExternalTaskQuery(process_definition_key_in=v))),
    ("tenantIdIn", lambda s, v: s.count_tasks(ExternalTaskQuery(tenant_id_in=v))),
    ("tenantIdIn", lambda s, v: s.count_incidents(IncidentQuery(tenant_id_in=v))),
    ("processDefinitionKeyIn", lambda s, v: s.query_incidents(IncidentQuery(process_definition_key_in=v))),
    ("jobDefinitionIdIn", lambda s, v: s.count_incidents(IncidentQuery(job_definition_id_in=v))),
    ("activityIdIn", lambda s, v: s.count_history_log(HistoricExternalTaskLogQuery(activity_id_in=v))),
    ("activityInstanceIdIn", lambda s, v: s.query_history_log(
        HistoricExternalTaskLogQuery(activity_instance_id_in=v))),
    ("executionIdIn", lambda s, v: s.count_history_log(HistoricExternalTaskLogQuery(execution_id_in=v))),
    ("tenantIdIn", lambda s, v: s.count_history_log(HistoricExternalTaskLogQuery(tenant_id_in=v))),
    ("tenantIdIn", lambda s, v: s.count_historic_incidents(HistoricIncidentQuery(tenant_id_in=v))),
    ("processDefinitionKeyIn", lambda s, v: s.query_historic_incidents(
        HistoricIncidentQuery(process_definition_key_in=v))),
    ("processInstanceIds", lambda s, v: s.external_task_ids(RetriesSelection(process_instance_ids=v))),
    ("tenantIdIn", lambda s, v: s.external_task_ids(
        RetriesSelection(process_instance_query=ProcessInstanceFilter(tenant_id_in=v)))),
    ("processDefinitionKeyIn", lambda s, v: s.external_task_ids(
        RetriesSelection(historic_process_instance_query=ProcessInstanceFilter(process_definition_key_in=v)))),
]


class TestValuesPerList:
    @pytest.mark.parametrize(("name", "ask"), LISTS, ids=[f"{i}-{name}" for i, (name, _) in enumerate(LISTS)])
    def test_a_list_longer_than_the_limit_is_refused_naming_it(self, limited, name, ask):
        message = refused(lambda: ask(limited.service, others(5)))
        assert message == f"Values in {name}: 5 is more than the limit of 4 (values_per_list)"

    def test_a_list_as_long_as_the_limit_is_answered(self, limited):
        task = limited.service.create(NewExternalTask(topic_name="t", activity_id="a"))
        assert limited.service.count_tasks(ExternalTaskQuery(activity_id_in=["a", *others(3)])) == 1
        found = limited.service.query_tasks(ExternalTaskQuery(activity_id_in=["a", *others(3)]))
        assert [t.id for t in found] == [task.id]


class TestLikePatternCharacters:
    """Matching a LIKE pattern takes time in its length times the value's, and no statement
    timeout stops one match: patterns are bounded instead."""

    @pytest.fixture
    def short_patterns(self, database_url, clock):
        engine = build_engine(database_url, clock=clock, limits=Limits(like_pattern_characters=10))
        yield engine
        engine.close()

    @pytest.mark.parametrize(
        ("what", "ask"),
        [
            ("incidentMessageLike", lambda service, p: service.count_incidents(IncidentQuery(incident_message_like=p))),
            (
                "incidentMessageLike",
                lambda service, p: service.count_historic_incidents(HistoricIncidentQuery(incident_message_like=p)),
            ),
            (
                "the like condition on note",
                lambda service, p: service.count_tasks(ExternalTaskQuery(process_variables=[VariableCondition("note", "like", p)])),
            ),
            (
                "processDefinitionVersionTag",
                lambda service, p: service.fetch_and_lock(FetchAndLockRequest(
                    worker_id=WORKER, max_tasks=1,
                    topics=[FetchTopic(topic_name="t", lock_duration=1000, process_definition_version_tag=p)],
                )),
            ),
        ],
        ids=["incidents", "historic incidents", "variable condition", "fetch topic"],
    )
    def test_a_pattern_longer_than_the_limit_is_refused_naming_it(self, short_patterns, what, ask):
        assert ask(short_patterns.service, "%" * 10) in (0, [])
        message = refused(lambda: ask(short_patterns.service, "%" * 11))
        assert message == f"Characters of the pattern of {what}: 11 is more than the limit of 10 (like_pattern_characters)"


class TestListsAreOneParameter:
    """PostgreSQL takes at most 65,535 parameters a statement; SQLite unions at most 500 SELECTs
    and nests an expression at most 1,000 deep."""

    def test_100000_activity_ids_are_one_filter(self, roomy):
        task = roomy.service.create(NewExternalTask(topic_name="t", activity_id="wanted"))
        roomy.service.create(NewExternalTask(topic_name="t", activity_id="unwanted"))
        ids = [*others(100_000), "wanted"]
        assert roomy.service.count_tasks(ExternalTaskQuery(activity_id_in=ids)) == 1
        assert [t.id for t in roomy.service.query_tasks(ExternalTaskQuery(activity_id_in=ids))] == [task.id]

    def test_100000_tenant_ids_filter_incidents_history_and_historic_incidents(self, roomy):
        roomy.service.create(NewExternalTask(topic_name="t", tenant_id="wanted"))
        roomy.service.create(NewExternalTask(topic_name="t", tenant_id="unwanted"))
        fail_without_retries(roomy, "t")
        tenants = [*others(100_000), "wanted"]
        assert roomy.service.count_incidents(IncidentQuery(tenant_id_in=tenants)) == 1
        created_and_failed = 2
        assert roomy.service.count_history_log(HistoricExternalTaskLogQuery(tenant_id_in=tenants)) == created_and_failed
        assert roomy.service.count_historic_incidents(HistoricIncidentQuery(tenant_id_in=tenants)) == 1

    def test_the_variables_of_70000_process_instances_are_read_at_once(self, roomy):
        roomy.service.create(NewExternalTask(topic_name="t", process_instance_id="pi-wanted", variables={"x": 1}))
        variables = roomy.runtime.process_variables([*others(70_000), "pi-wanted"])
        assert list(variables) == ["pi-wanted"]
        assert variables["pi-wanted"]["x"].value == 1

    def test_the_earliest_task_of_70000_topics_is_found_at_once(self, roomy, clock):
        roomy.service.create(NewExternalTask(topic_name="wanted"))
        assert list(roomy.runtime.earliest_by_topic([*others(70_000), "wanted"])) == ["wanted"]

    def test_what_a_poll_on_2000_topics_waits_for_is_found_at_once(self, roomy, clock):
        roomy.service.create(NewExternalTask(topic_name="wanted"))
        topics = [FetchTopic(topic_name=name, lock_duration=1000) for name in [*others(2_000), "wanted"]]
        assert roomy.runtime.next_availability(topics, clock()) is not None

    @pytest.mark.parametrize("use_priority", [False, True], ids=["in fetch order", "by priority"])
    def test_a_fetch_of_2000_topics_is_answered(self, roomy, use_priority):
        task = roomy.service.create(NewExternalTask(topic_name="wanted"))
        # Some topics with a filter of their own, which each make a branch of the statement.
        topics = [FetchTopic(topic_name=name, lock_duration=1000) for name in [*others(1_000), "wanted"]]
        topics += [FetchTopic(topic_name=name, lock_duration=1000, business_key="b") for name in others(1_000)]
        request = FetchAndLockRequest(worker_id=WORKER, max_tasks=10, topics=topics, use_priority=use_priority)
        assert [locked.task.id for locked in roomy.service.fetch_and_lock(request)] == [task.id]


class TestQuerySeconds:
    @pytest.mark.parametrize(
        "read",
        [
            lambda engine, statement: engine.runtime._rows(statement),
            lambda engine, statement: engine.history._rows(statement),
            lambda engine, statement: engine.runtime._rows(statement, worker=True),
            lambda engine, statement: engine.runtime._rows(statement, keyed=True),
        ],
        ids=["task and incident queries", "history queries", "worker path", "fetch candidates"],
    )
    def test_a_read_running_longer_than_query_seconds_is_stopped_with_a_400_naming_it(self, limited, read):
        started = time.monotonic()
        with pytest.raises(QueryTimedOut) as stopped:
            read(limited, SLOW[dialect_of(limited)])
        assert time.monotonic() - started < STOPPED_WITHIN_SECONDS
        assert isinstance(stopped.value, BadRequest)
        assert "query_seconds" in stopped.value.message and "0.3 s" in stopped.value.message
        # The connection it ran on answers the next read in full.
        assert [row["n"] for row in read(limited, "SELECT 7 AS n")] == [7]

    def test_reads_within_the_limit_are_answered_in_full(self, limited):
        limited.service.create_many([NewExternalTask(topic_name="t") for _ in range(3)])
        assert limited.service.count_tasks(ExternalTaskQuery(topic_name="t")) == 3
        assert limited.service.count_history_log(HistoricExternalTaskLogQuery()) == 3


def sleeping_queries(admin: psycopg.Connection) -> int:
    """How many query connections are running the test's heavy query now."""
    [[running]] = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'extask queries' AND state = 'active' "
        "AND query = %s",
        (SLEEPING,),
    ).fetchall()
    return running


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)  # the server's activity view is polled: nothing tells when it changes


def in_threads(count: int, read: Callable[[], Any]) -> tuple[list[threading.Thread], list[BaseException | None]]:
    outcomes: list[BaseException | None] = [None] * count

    def run(index: int) -> None:
        try:
            read()
        except BaseException as error:  # noqa: BLE001 - the test looks at what each read raised
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads, outcomes


@pytest.mark.postgres
class TestQueryConnections:
    def test_more_heavy_queries_than_the_event_store_has_connections_leave_the_commands_theirs(
        self, postgres_schema_url, clock, monkeypatch
    ):
        """24 heavy queries at once took every connection of the one shared pool (4 + 16), and
        creates and fetches failed after 5 s without one. Now four run on the queries' own
        connections, the others are refused as busy, and commands are answered meanwhile."""
        monkeypatch.setattr(bounded_reads, "QUERY_CONNECTION_WAIT_SECONDS", 0.5)
        engine = build_engine(postgres_schema_url, clock=clock, limits=Limits(query_seconds=2))
        admin = psycopg.connect(settings_from_url(postgres_schema_url).admin_url, autocommit=True)
        try:
            engine.query_reads.open(wait=True)  # all four made, however slowly this machine connects
            threads, outcomes = in_threads(24, lambda: engine.runtime._rows(SLEEPING))
            wait_for(lambda: sleeping_queries(admin) == bounded_reads.QUERY_POOL_SIZE, "the heavy queries never ran")

            created = engine.service.create_many([NewExternalTask(topic_name="busy") for _ in range(3)])
            topics = [FetchTopic(topic_name="busy", lock_duration=60_000)]
            fetched = engine.service.fetch_and_lock(FetchAndLockRequest(worker_id=WORKER, max_tasks=5, topics=topics))
            assert sleeping_queries(admin) == bounded_reads.QUERY_POOL_SIZE  # the heavy queries still run

            assert sorted(locked.task.id for locked in fetched) == sorted(t.id for t in created)
            for thread in threads:
                thread.join()
            assert {type(outcome) for outcome in outcomes} == {QueryTimedOut, QueriesBusy}
            assert sum(isinstance(outcome, QueryTimedOut) for outcome in outcomes) >= bounded_reads.QUERY_POOL_SIZE
        finally:
            admin.close()
            engine.close()

    def test_a_query_that_finds_every_query_connection_busy_is_refused_saying_so(self, postgres_schema_url):
        pool = PostgresQueryPool(settings_from_url(postgres_schema_url), seconds=1, size=1, wait=0.2)
        admin = psycopg.connect(settings_from_url(postgres_schema_url).admin_url, autocommit=True)
        try:
            threads, outcomes = in_threads(1, lambda: pool.rows(SLEEPING, ()))
            wait_for(lambda: sleeping_queries(admin) == 1, "the heavy query never ran")
            with pytest.raises(QueriesBusy) as busy:
                pool.rows("SELECT 1 AS n", ())
            assert isinstance(busy.value, ApplicationError) and not isinstance(busy.value, BadRequest)
            assert busy.value.message == (
                "Too many queries at once: none of the 1 connections for queries was free within 0.2 s; try again later"
            )
            threads[0].join()
            assert isinstance(outcomes[0], QueryTimedOut)
            assert pool.rows("SELECT 1 AS n", ()) == [{"n": 1}]
        finally:
            admin.close()
            pool.close()

    def test_closing_the_engine_closes_the_query_connections(self, postgres_schema_url):
        engine = build_engine(postgres_schema_url)
        admin = psycopg.connect(settings_from_url(postgres_schema_url).admin_url, autocommit=True)
        try:
            [[pid]] = [row.values() for row in engine.runtime._rows("SELECT pg_backend_pid() AS pid")]

            def still_connected() -> bool:
                [[application]] = admin.execute(
                    "SELECT count(*) FILTER (WHERE application_name = 'extask queries') FROM pg_stat_activity "
                    "WHERE pid = %s",
                    (pid,),
                ).fetchall()
                return bool(application)

            assert still_connected()
            engine.close()
            wait_for(lambda: not still_connected(), "the query connections stayed open")
        finally:
            admin.close()
