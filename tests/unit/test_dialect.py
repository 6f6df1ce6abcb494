"""One statement text, two backends: how a dialect names tables and indexes and writes placeholders."""

from __future__ import annotations

from extask.infrastructure.persistence.sql import Dialect


def test_tables_are_qualified_by_schema_on_postgres_only():
    statement = "SELECT id FROM {ext_task} WHERE id = ?"
    assert Dialect("sqlite").sql(statement) == "SELECT id FROM ext_task WHERE id = ?"
    assert Dialect("postgres", "s").sql(statement) == 'SELECT id FROM "s"."ext_task" WHERE id = %s'


def test_created_index_names_are_bare_and_dropped_ones_qualified():
    replay = Dialect("postgres", "s", suffix="_replay")
    assert replay.sql("CREATE INDEX {@ext_task_fetchable_v2} ON {ext_task} (topic_name)") == (
        'CREATE INDEX ext_task_fetchable_v2_replay ON "s"."ext_task_replay" (topic_name)'
    )
    assert replay.index("ext_task_fetchable") == '"s"."ext_task_fetchable_replay"'
    assert Dialect("sqlite").index("ext_task_fetchable") == "ext_task_fetchable"
