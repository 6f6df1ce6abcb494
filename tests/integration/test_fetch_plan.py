"""Fetch-and-lock reads the first entries of its index however fresh the table's statistics.

On a table PostgreSQL has never analysed (a new installation, or one that just filled up fast) it
believes few rows match a topic, and left alone it would read every matching row and sort them:
thousands of rows for every fetch of fifty.
"""

from __future__ import annotations

import psycopg
import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic
from extask.infrastructure.bootstrap import build_engine
from extask.infrastructure.persistence.database import settings_from_url

pytestmark = pytest.mark.postgres

TOPICS = ["a", "b", "c", "d"]


def fill_without_statistics(url: str, tasks: int) -> None:
    """A busy first minute, written by SQL so that nothing analyses the table: ``tasks`` tasks over
    four topics, with ids as extask makes them; half of them then locked, and half of those
    completed."""
    settings = settings_from_url(url)
    table = f'"{settings.schema}".ext_task'
    with psycopg.connect(settings.admin_url, autocommit=True) as connection:
        connection.execute(
            f"INSERT INTO {table} (id, topic_name, suspended, priority, create_time, process_instance_id, "
            "activity_id, activity_instance_id, execution_id, version) "
            "SELECT gen_random_uuid()::text, (%s::text[])[1 + g %% 4], false, 0, 1735787045000, "
            "gen_random_uuid()::text, 'act', 'act:' || gen_random_uuid(), gen_random_uuid()::text, 1 "
            "FROM generate_series(1, %s) g",
            (TOPICS, tasks),
        )
        connection.execute(
            f"UPDATE {table} SET worker_id = 'busy', lock_expiration_time = 4102444800000, version = 2 "
            f"WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT %s)",
            (tasks // 2,),
        )
        connection.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE worker_id IS NOT NULL LIMIT %s)", (tasks // 4,))
        [[analysed]] = connection.execute(
            "SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL FROM pg_stat_user_tables "
            "WHERE schemaname = %s AND relname = 'ext_task'",
            (settings.schema,),
        ).fetchall()
        assert not analysed


def test_the_candidate_query_walks_the_fetchable_index_on_a_table_never_analysed(postgres_schema_url, clock):
    engine = build_engine(postgres_schema_url, clock=clock)
    try:
        fill_without_statistics(postgres_schema_url, 20_000)
        request = FetchAndLockRequest(
            worker_id="w", max_tasks=50, topics=[FetchTopic(topic_name=t, lock_duration=1000) for t in TOPICS]
        )
        plan = engine.runtime.explain_fetchable(request, clock())
        assert "Bitmap" not in plan and "Seq Scan" not in plan, plan
        assert plan.count("Index Scan using ext_task_fetchable_v2") == len(TOPICS), plan
        # Each topic's entries come in the index's own order; only the merge of the topics sorts.
        assert plan.count("Sort Key") == 1, plan
    finally:
        engine.close()
