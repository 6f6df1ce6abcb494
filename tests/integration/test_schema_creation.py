"""Tables are created on first start, also when several server processes start at once; a start
over an earlier version's tables keeps their data and retires the indexes it no longer uses."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.infrastructure.bootstrap import build_engine
from extask.infrastructure.persistence.database import settings_from_url
from tests.engine_sql import run_sql


@pytest.mark.postgres
def test_engines_starting_together_on_a_new_schema_all_come_up(postgres_schema_url):
    """Six engines create the same tables at the same moment; none fails, all can work."""
    start = threading.Barrier(6)

    def start_engine(_):
        start.wait()
        return build_engine(postgres_schema_url)

    with ThreadPoolExecutor(max_workers=6) as pool:
        engines = list(pool.map(start_engine, range(6)))
    try:
        for engine in engines:
            engine.service.create(NewExternalTask(topic_name="startup"))
    finally:
        for engine in engines:
            engine.close()


def test_a_second_start_finds_the_tables_and_the_data(database_url):
    first = build_engine(database_url)
    task = first.service.create(NewExternalTask(topic_name="restart"))
    first.close()

    second = build_engine(database_url)
    try:
        assert second.service.get_task(task.id).topic_name == "restart"
    finally:
        second.close()


def ext_task_indexes(engine, url: str) -> set[str]:
    settings = settings_from_url(url)
    if settings.dialect == "sqlite":
        rows = run_sql(engine, url, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ext_task'")
    else:
        rows = run_sql(
            engine, url, "SELECT indexname AS name FROM pg_indexes WHERE schemaname = ? AND tablename = 'ext_task'",
            (settings.schema,),
        )
    return {row["name"] for row in rows}


def test_a_start_retires_the_fetch_index_of_an_earlier_version(database_url):
    """A database from before ext_task_fetchable_v2 still has ext_task_fetchable, which every
    write would go on paying for; the next start drops it and fetches by the new one."""
    first = build_engine(database_url)
    try:
        task = first.service.create(NewExternalTask(topic_name="upgrade"))
        run_sql(
            first, database_url,
            "CREATE INDEX ext_task_fetchable ON {ext_task} (topic_name, (COALESCE(lock_expiration_time, 0))) "
            "WHERE suspended = FALSE AND (retries IS NULL OR retries > 0)",
        )
        assert "ext_task_fetchable" in ext_task_indexes(first, database_url)
    finally:
        first.close()

    second = build_engine(database_url)
    try:
        assert "ext_task_fetchable" not in ext_task_indexes(second, database_url)
        assert "ext_task_fetchable_v2" in ext_task_indexes(second, database_url)
        assert [locked.task.id for locked in second.service.fetch_and_lock(FetchAndLockRequest(
            worker_id="w", max_tasks=1, topics=[FetchTopic(topic_name="upgrade", lock_duration=1000)],
        ))] == [task.id]
    finally:
        second.close()


CHURNING = ("ext_task", "proc_var", "proc_inst", "task_var", "incident", "hist_task_state")


def autovacuum_settings(engine, database_url) -> dict[str, list[str]]:
    rows = run_sql(
        engine, database_url,
        "SELECT c.relname AS name, c.reloptions AS options FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ? AND c.relkind = 'r'",
        (settings_from_url(database_url).schema,),
    )
    return {row["name"]: sorted(row["options"] or []) for row in rows}


@pytest.mark.postgres
def test_the_tables_that_churn_are_vacuumed_and_analysed_early_also_after_a_replay(postgres_schema_url):
    engine = build_engine(postgres_schema_url)
    try:
        expected = [
            "autovacuum_analyze_scale_factor=0.02", "autovacuum_analyze_threshold=500",
            "autovacuum_vacuum_scale_factor=0.02", "autovacuum_vacuum_threshold=500",
        ]
        settings = autovacuum_settings(engine, postgres_schema_url)
        assert {table: settings[table] for table in CHURNING} == dict.fromkeys(CHURNING, expected)
        assert settings["hist_ext_task_log"] == []  # appended to, never rewritten

        engine.replay.rebuild()
        settings = autovacuum_settings(engine, postgres_schema_url)
        assert {table: settings[table] for table in CHURNING} == dict.fromkeys(CHURNING, expected)
    finally:
        engine.close()
