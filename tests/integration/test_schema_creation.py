"""Tables are created on first start, also when several server processes start at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from application.dto import NewExternalTask
from infrastructure.bootstrap import build_engine


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
