"""Replay: every read model rebuilt from the first event reproduces the live one, a verification
finds any row that does not, and a rebuild run while commands are committing loses nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.application.queries import HistoricExternalTaskLogQuery, Page
from extask.infrastructure.bootstrap import build_engine
from extask.infrastructure.persistence.database import settings_from_url
from extask.infrastructure.persistence.replay import ReplayInProgress
from tests.engine_sql import run_sql

READ_MODEL_TABLES = (
    "ext_task", "proc_inst", "proc_var", "incident", "task_var",
    "hist_ext_task_log", "hist_incident", "hist_task_state",
)


def read_models(engine, database_url: str) -> dict[str, list[tuple]]:
    """Every row of every read model, sorted, as plain tuples."""
    return {
        table: sorted((tuple(dict(row).values()) for row in run_sql(engine, database_url, f"SELECT * FROM {{{table}}}")), key=repr)
        for table in READ_MODEL_TABLES
    }


def a_busy_history(service, clock) -> None:
    """Tasks in every state: open, locked, completed, failing, in an incident, resolved, BPMN error,
    deleted with their process instance, suspended, with process and local variables."""
    for index in range(12):
        service.create(NewExternalTask(
            topic_name="invoice" if index % 2 else "shipping", process_instance_id=f"pi-{index % 4}",
            priority=index, variables={"amount": index * 1.5, "customer": f"c{index}"},
        ))
    clock.advance(1000)
    # By priority, so which task ends in which state does not depend on an unspecified order.
    locked = service.fetch_and_lock(FetchAndLockRequest(
        worker_id="w1", max_tasks=8, use_priority=True,
        topics=[FetchTopic(topic_name="invoice", lock_duration=60_000), FetchTopic(topic_name="shipping", lock_duration=60_000)],
    ))
    ids = [item.task.id for item in locked]
    clock.advance(1000)
    service.complete(ids[0], "w1", variables={"invoiceNumber": "INV-1"}, local_variables={"note": "done"})
    service.handle_failure(ids[1], "w1", error_message="gateway down", error_details="trace", retries=2, retry_timeout=500)
    service.handle_failure(ids[2], "w1", error_message="gateway down", error_details="trace", retries=0)
    service.handle_failure(ids[3], "w1", error_message="broken", retries=0)
    clock.advance(1000)
    service.set_retries(ids[3], 1)
    service.handle_bpmn_error(ids[4], "w1", "NO_STOCK", error_message="out of stock")
    service.unlock(ids[5])
    service.set_priority(ids[6], 99)
    service.delete_process_instance("pi-3")
    service.suspend_process_instance("pi-2")


@pytest.fixture
def busy_engine(engine, service, clock):
    a_busy_history(service, clock)
    engine.history.catch_up()
    return engine


class TestRebuild:
    def test_a_rebuild_reproduces_every_live_read_model_exactly(self, busy_engine, database_url):
        before = read_models(busy_engine, database_url)

        result = busy_engine.replay.rebuild()

        assert read_models(busy_engine, database_url) == before
        assert result.position == busy_engine.event_store.recorder.max_notification_id()
        assert result.rows == {table: len(rows) for table, rows in before.items()}
        assert result.rows["hist_ext_task_log"] > 12 and result.rows["ext_task"] > 0

    def test_the_engine_keeps_working_on_the_swapped_tables(self, busy_engine, service, clock):
        busy_engine.replay.rebuild()

        task = service.create(NewExternalTask(topic_name="after", process_instance_id="pi-after"))
        [locked] = service.fetch_and_lock(FetchAndLockRequest(
            worker_id="w2", max_tasks=5, topics=[FetchTopic(topic_name="after", lock_duration=1000)],
        ))
        service.complete(locked.task.id, "w2")

        logs = service.query_history_log(HistoricExternalTaskLogQuery(external_task_id=task.id), Page())
        assert [(log.creation_log, log.success_log) for log in logs] == [(True, False), (False, True)]
        assert busy_engine.replay.verify().differences == []

    def test_events_committed_while_the_rebuild_reads_are_applied_before_the_swap(self, busy_engine, service):
        """The fold reads up to the position current at its start; a task created meanwhile still
        ends up in the swapped-in models, and the history position is the last event."""
        created = []

        def create_while_folding(events: int) -> None:
            if not created:
                created.append(service.create(NewExternalTask(topic_name="late", process_instance_id="pi-late")))

        result = busy_engine.replay.rebuild(create_while_folding)

        assert service.get_task(created[0].id).topic_name == "late"
        logs = service.query_history_log(HistoricExternalTaskLogQuery(external_task_id=created[0].id), Page())
        assert [log.creation_log for log in logs] == [True]
        assert result.position == busy_engine.event_store.recorder.max_notification_id()
        assert busy_engine.replay.verify().differences == []

    def test_a_rebuild_while_workers_complete_tasks_loses_and_repeats_nothing(self, engine, service):
        tasks = service.create_many([NewExternalTask(topic_name="busy", process_instance_id=f"p{i % 10}") for i in range(200)])
        for task in tasks:
            service.lock(task.id, "w", 600_000)
        start = threading.Barrier(5)

        def complete(index: int) -> None:
            start.wait()
            for task in tasks[index::4]:
                service.complete(task.id, "w")

        def replay(_: int) -> None:
            start.wait()
            engine.replay.rebuild()

        with ThreadPoolExecutor(max_workers=5) as pool:
            list(pool.map(lambda i: replay(i) if i == 4 else complete(i), range(5)))

        engine.history.catch_up()
        result = engine.replay.verify()
        assert result.differences == []
        assert result.rows["ext_task"] == 0
        assert result.rows["hist_ext_task_log"] == 400  # one creation and one success log each
        assert result.history_position == result.runtime_position

    def test_a_rebuild_of_an_empty_store_leaves_empty_models(self, engine):
        result = engine.replay.rebuild()
        assert result.events == 0 and set(result.rows.values()) == {0}


class TestVerify:
    def test_live_models_match_their_rebuild(self, busy_engine):
        result = busy_engine.replay.verify()
        assert result.differences == []
        # Every stored event was folded (counted, not read off the last position: ids may have gaps).
        assert result.events == len(busy_engine.event_store.recorder.select_notifications(None, 100_000))
        assert result.rows["incident"] == 1 and result.rows["hist_incident"] == 2

    def test_a_changed_a_missing_and_an_extra_row_are_each_reported(self, busy_engine, service, database_url):
        rows = run_sql(busy_engine, database_url, "SELECT id, retries FROM {ext_task} ORDER BY id")
        changed_id = rows[0]["id"]
        run_sql(busy_engine, database_url, "UPDATE {ext_task} SET retries = 77 WHERE id = ?", (changed_id,))
        run_sql(busy_engine, database_url, "DELETE FROM {hist_ext_task_log} WHERE seq = 1")
        run_sql(
            busy_engine, database_url,
            "INSERT INTO {proc_var} (process_instance_id, name, type, value, value_info) VALUES ('pi-0', 'forged', 'String', '\"x\"', '{}')",
        )

        differences = {(d.table, d.problem): d for d in busy_engine.replay.verify().differences}

        assert set(differences) == {
            ("ext_task", "differs"), ("hist_ext_task_log", "missing from the live model"),
            ("proc_var", "not in the rebuilt model"),
        }
        assert differences["ext_task", "differs"].columns == {"retries": (77, rows[0]["retries"])}
        assert differences["proc_var", "not in the rebuilt model"].key == ("pi-0", "forged")
        assert "retries: live 77" in str(differences["ext_task", "differs"])

    def test_a_rebuild_repairs_what_verify_found(self, busy_engine, database_url):
        run_sql(busy_engine, database_url, "DELETE FROM {incident}")
        assert busy_engine.replay.verify().differences != []

        busy_engine.replay.rebuild()

        assert busy_engine.replay.verify().differences == []

    def test_a_history_projection_that_lags_is_compared_at_its_own_position(self, busy_engine, service):
        """Commands whose history is not projected yet are no difference: history is compared at the
        position it has reached, the runtime model at the last event."""
        service.create(NewExternalTask(topic_name="fresh", process_instance_id="pi-fresh"))

        result = busy_engine.replay.verify()

        assert result.history_position < result.runtime_position
        assert result.differences == []


@pytest.mark.postgres
def test_a_second_replay_of_the_same_schema_is_refused_while_one_runs(postgres_schema_url, clock):
    settings = settings_from_url(postgres_schema_url)
    engine = build_engine(postgres_schema_url, clock=clock)
    try:
        with psycopg.connect(settings.admin_url, autocommit=True) as running_replay:
            running_replay.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"extask replay {settings.schema}",))
            with pytest.raises(ReplayInProgress, match="Another replay of schema"):
                engine.replay.rebuild()
        assert engine.replay.rebuild().events == 0  # and once it has ended, it may
    finally:
        engine.close()


@pytest.mark.postgres
def test_a_rebuild_folded_by_several_processes_reproduces_the_live_models(postgres_schema_url, clock):
    """A large store is folded in one process per core, each taking the aggregates whose id hashes
    to it; the result is the same as one process's."""
    engine = build_engine(postgres_schema_url, clock=clock)
    try:
        a_busy_history(engine.service, clock)
        engine.history.catch_up()
        before = read_models(engine, postgres_schema_url)

        result = engine.replay.rebuild(processes=3)

        assert result.processes == 3
        assert read_models(engine, postgres_schema_url) == before
        assert engine.replay.verify().differences == []
    finally:
        engine.close()
