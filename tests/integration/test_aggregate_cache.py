"""The event store's cache of committed aggregates is bounded by bytes as well as by count: each
cached version weighs what its variables (and other texts) hold, the least recently used are
dropped until the cache is within its budget, and an aggregate heavier than the whole budget is
not cached. On both backends, over the event store itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from uuid import UUID

import pytest

from extask.application.arguments import stored_variables
from extask.application.dto import NewExternalTask
from extask.application.event_store import ExternalTaskEventStore, estimated_bytes
from extask.application.limits import Limits
from extask.domain.external_task import ExternalTask
from extask.domain.process_instance import ProcessInstance
from extask.infrastructure.bootstrap import build_engine
from extask.infrastructure.persistence.database import settings_from_url
from extask.infrastructure.persistence.schema import create_tables

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
TEXT = 40_000  # each instance's variable: the budget below holds two of them, not three
BUDGET = 100_000


def event_store(database_url: str, cache_bytes: int) -> ExternalTaskEventStore:
    settings = settings_from_url(database_url)
    store = ExternalTaskEventStore(env=settings.library_env, cache_bytes=cache_bytes)
    create_tables(settings, [store.recorder])
    return store


@pytest.fixture
def store(database_url) -> Iterator[ExternalTaskEventStore]:
    store = event_store(database_url, BUDGET)
    yield store
    store.close()


def instance(name: str, text: int = TEXT) -> ProcessInstance:
    return ProcessInstance.start(
        now=NOW, process_instance_id=name, business_key=None, process_definition_id=None,
        process_definition_key=None, tenant_id=None, variables=stored_variables({"document": "d" * text}),
    )


def committed(store: ExternalTaskEventStore, *aggregates) -> list[UUID]:
    assert store.commit([[aggregate] for aggregate in aggregates]) == [True] * len(aggregates)
    return [aggregate.id for aggregate in aggregates]


def cached(store: ExternalTaskEventStore, *ids: UUID) -> list[bool]:
    """Whether each is in the cache (asking does not read the database, and counts as a use)."""
    return [found is not None for found, _ in store.get_many(list(ids), cached_only=True).values()]


class TestBoundedByBytes:
    def test_the_least_recently_used_are_dropped_once_the_budget_is_spent(self, store):
        first, second = committed(store, instance("first"), instance("second"))
        assert cached(store, first, second) == [True, True]
        [third] = committed(store, instance("third"))
        assert cached(store, first, second, third) == [False, True, True]
        assert store.cached_bytes <= BUDGET

    def test_a_cached_aggregate_used_again_is_kept_before_an_older_one(self, store):
        first, second = committed(store, instance("first"), instance("second"))
        assert cached(store, first) == [True]  # now used more recently than the second
        committed(store, instance("third"))
        assert cached(store, first, second) == [True, False]

    def test_an_aggregate_heavier_than_the_budget_is_not_cached_and_drops_nothing(self, store):
        [small] = committed(store, instance("small"))
        [heavy] = committed(store, instance("heavy", text=BUDGET))
        assert cached(store, heavy, small) == [False, True]
        found, from_cache = store.get_many([heavy])[heavy]
        assert (found.variables["document"]["value"], from_cache) == ("d" * BUDGET, False)

    def test_a_new_version_replaces_the_weight_of_the_old_one(self, store):
        [instance_id] = committed(store, instance("one", text=10))
        light = store.cached_bytes
        [loaded] = [found for found, _ in store.get_many([instance_id]).values()]
        loaded.set_variables(NOW, stored_variables({"document": "d" * TEXT}))
        committed(store, loaded)
        assert store.cached_bytes == estimated_bytes(loaded) == light + TEXT - 10

    def test_forgetting_an_aggregate_gives_its_weight_back(self, store):
        first, second = committed(store, instance("first"), instance("second"))
        store.forget([first])
        assert cached(store, first, second) == [False, True]
        committed(store, instance("third"))
        assert cached(store, second) == [True]


class TestWeight:
    def test_a_task_weighs_its_local_variables_and_error_details(self):
        task = ExternalTask.create(now=NOW, topic_name="topic", process_instance_id="pi")
        empty = estimated_bytes(task)
        task.local_variables = stored_variables({"a": "x" * 5000})
        task.error_details = "e" * 3000
        assert 8000 < estimated_bytes(task) - empty < 9000

    def test_text_beyond_latin_1_weighs_what_it_takes_in_memory(self):
        task = ExternalTask.create(now=NOW, topic_name="topic", process_instance_id="pi")
        empty = estimated_bytes(task)
        task.local_variables = stored_variables({"a": "\U0001d11e" * 5000})  # four bytes a character
        assert 20_000 < estimated_bytes(task) - empty < 21_000


def test_the_engine_takes_its_cache_budget_from_its_limits(database_url, clock):
    engine = build_engine(database_url, clock=clock, limits=Limits(cache_bytes=BUDGET))
    try:
        service = engine.service
        created = [
            service.create(NewExternalTask(topic_name="topic", variables={"document": "d" * TEXT})) for _ in range(3)
        ]
        ids = [ProcessInstance.aggregate_id(task.process_instance_id) for task in created]
        assert cached(engine.event_store, *ids) == [False, True, True]
    finally:
        engine.close()
