"""No batch is left unfinished for good: one that its engine let go when it closed, or that has
recorded nothing for a lease (its engine crashed), is taken up by another engine on the same
database and finished there, task by task from where it stood.

The other engine is a second ``build_engine`` on the same database, as a second server process
would be; a crashed engine's batch is saved straight into the event store, as it left it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from uuid import uuid4

import psycopg
import pytest

from extask.application.batches import BATCH_LEASE, BatchService
from extask.application.dto import NewExternalTask
from extask.application.queries import ExternalTaskQuery, RetriesSelection
from extask.domain.batch import Batch
from extask.infrastructure.bootstrap import build_engine
from extask.infrastructure.persistence.database import settings_from_url
from extask.infrastructure.persistence.unfinished_batches import INDEX_NAME, select_unfinished

from .helpers import TOPIC_NAME, event_names

RETRIES = 7


@pytest.fixture
def other_engine(database_url, clock):
    engine = build_engine(database_url, clock=clock)
    yield engine
    engine.close()


@pytest.fixture
def task_ids(service) -> list[str]:
    return [task.id for task in service.create_many([NewExternalTask(topic_name=TOPIC_NAME) for _ in range(5)])]


def left_standing(engine, task_ids, clock, *, done: int, interrupted: bool) -> str:
    """A batch as an engine left it: started, the first ``done`` tasks' outcomes recorded, then
    let go (``interrupted``) or not (it crashed)."""
    batch = Batch.set_external_task_retries(now=clock.now, batch_id=uuid4(), retries=RETRIES, external_task_ids=task_ids)
    batch.start(clock.now)
    for task_id in task_ids[:done]:
        batch.record_success(task_id, clock.now)
    if interrupted:
        batch.interrupt(clock.now)
    engine.event_store.save(batch)
    return str(batch.id)


def retries(service) -> dict[str, int | None]:
    return {task.id: task.retries for task in service.query_tasks(ExternalTaskQuery())}


class GatedService:
    """The engine's service, but setting the retries of the task ``gate_at`` waits for
    ``release`` (and says it has got there), so a test can act while a batch is midway. (Its
    batch service takes one task a transaction, so that it stops right after the gate.)"""

    def __init__(self, service, gate_at: str) -> None:
        self.inner, self._gate_at = service, gate_at  # a GatedService around another: two gates
        self.reached, self.release = threading.Event(), threading.Event()

    def set_retries_each(self, task_ids: list[str], retries: int) -> list[Exception | None]:
        if self._gate_at in task_ids:
            self.reached.set()
            assert self.release.wait(30), "the test never released the gate"
        return self.inner.set_retries_each(task_ids, retries)

    def external_task_ids(self, selection: RetriesSelection) -> list[str]:
        return self.inner.external_task_ids(selection)


class TestTakingUp:
    def test_a_batch_let_go_is_taken_up_at_once_and_finished_from_where_it_stood(
        self, engine, other_engine, task_ids, clock
    ):
        batch_id = left_standing(engine, task_ids, clock, done=2, interrupted=True)

        assert other_engine.batches.take_up_free_batches() == [batch_id]
        batch = other_engine.batches.wait_for(batch_id, timeout=60)

        assert (batch.ended, batch.completed_jobs, batch.failed_jobs) == (True, 5, 0)
        # The two done before were not done again: their tasks keep the retries they had.
        assert retries(other_engine.service) == {**{t: None for t in task_ids[:2]}, **{t: RETRIES for t in task_ids[2:]}}
        assert event_names(other_engine, batch_id) == [
            "Created", "Started", "TaskRetriesSet", "TaskRetriesSet", "Interrupted", "Resumed",
            "TaskRetriesSet", "TaskRetriesSet", "TaskRetriesSet", "Completed",
        ]

    def test_a_batch_of_a_crashed_engine_is_taken_up_once_it_has_stood_still_for_the_lease(
        self, engine, other_engine, task_ids, clock
    ):
        batch_id = left_standing(engine, task_ids, clock, done=1, interrupted=False)

        assert other_engine.batches.take_up_free_batches() == []  # its engine may still be running it
        clock.advance(seconds=BATCH_LEASE.total_seconds() - 0.001)
        assert other_engine.batches.take_up_free_batches() == []
        clock.advance(milliseconds=1)
        assert other_engine.batches.take_up_free_batches() == [batch_id]

        batch = other_engine.batches.wait_for(batch_id, timeout=60)
        assert (batch.ended, batch.completed_jobs) == (True, 5)
        assert event_names(other_engine, batch_id)[3:5] == ["Resumed", "TaskRetriesSet"]

    def test_ended_batches_and_batches_running_here_are_not_taken_up(self, engine, service, task_ids, clock):
        ended = engine.batches.set_retries_async(RetriesSelection(external_task_ids=task_ids[:1]), RETRIES)
        engine.batches.wait_for(ended.id, timeout=60)
        gated = GatedService(service, gate_at=task_ids[1])
        batches = BatchService(engine.event_store, gated, clock, tasks_per_transaction=1)  # type: ignore[arg-type]
        try:
            running = batches.set_retries_async(RetriesSelection(external_task_ids=task_ids[1:]), RETRIES)
            assert gated.reached.wait(30)
            clock.advance(seconds=2 * BATCH_LEASE.total_seconds())  # long past its lease, but running here

            assert batches.take_up_free_batches() == []
            gated.release.set()
            assert batches.wait_for(running.id, timeout=60).completed_jobs == 4
        finally:
            gated.release.set()
            batches.close()

    def test_a_batch_found_by_several_engines_is_run_by_one(self, engine, other_engine, task_ids, clock, caplog):
        batch_id = left_standing(engine, task_ids, clock, done=0, interrupted=True)

        with caplog.at_level(logging.WARNING, logger="extask.application.batches"):
            taken = [e.batches.take_up_free_batches() for e in (engine, other_engine)]
            for e in (engine, other_engine):
                e.batches.wait_for(batch_id, timeout=60)

        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

        # Both may find it free; the one that writes its Resumed second finds the batch changed.
        assert event_names(engine, batch_id).count("Resumed") == 1, taken
        assert event_names(engine, batch_id).count("TaskRetriesSet") == 5
        assert set(retries(engine.service).values()) == {RETRIES}


class TestKeepingIt:
    def test_a_running_batch_saves_its_progress_at_least_every_quarter_lease(
        self, engine, service, other_engine, task_ids, clock
    ):
        gated = GatedService(GatedService(service, gate_at=task_ids[3]), gate_at=task_ids[2])
        batches = BatchService(engine.event_store, gated, clock, tasks_per_transaction=1)  # type: ignore[arg-type]
        try:
            batch = batches.set_retries_async(RetriesSelection(external_task_ids=task_ids), RETRIES)
            assert gated.reached.wait(30)
            assert other_engine.batches.get_batch(batch.id).completed_jobs == 0  # nothing saved yet
            clock.advance(seconds=BATCH_LEASE.total_seconds() / 4)
            gated.release.set()
            assert gated.inner.reached.wait(30)  # past the task that took a quarter lease

            assert other_engine.batches.get_batch(batch.id).completed_jobs == 3
            assert other_engine.batches.take_up_free_batches() == []
        finally:
            gated.release.set()
            gated.inner.release.set()
            batches.close()

    def test_a_batch_begun_late_in_its_queue_renews_its_lease_before_its_first_task(
        self, engine, service, other_engine, task_ids, clock
    ):
        gated = GatedService(GatedService(service, gate_at=task_ids[1]), gate_at=task_ids[0])
        batches = BatchService(engine.event_store, gated, clock, tasks_per_transaction=1)  # type: ignore[arg-type]
        try:
            batches.set_retries_async(RetriesSelection(external_task_ids=task_ids[:1]), RETRIES)
            queued = batches.set_retries_async(RetriesSelection(external_task_ids=task_ids[1:]), RETRIES)
            assert gated.reached.wait(30)
            clock.advance(seconds=BATCH_LEASE.total_seconds() - 1)
            gated.release.set()
            assert gated.inner.reached.wait(30)  # the queued batch has begun
            clock.advance(seconds=2)  # a lease since it was created, not since it began

            assert other_engine.batches.take_up_free_batches() == []
            gated.inner.release.set()
            assert batches.wait_for(queued.id, timeout=60).completed_jobs == 4
        finally:
            gated.release.set()
            gated.inner.release.set()
            batches.close()


class TestLettingGo:
    def test_an_engine_that_closes_midway_lets_its_batch_go_and_another_finishes_it(
        self, engine, service, other_engine, task_ids, clock
    ):
        gated = GatedService(service, gate_at=task_ids[2])
        batches = BatchService(engine.event_store, gated, clock, tasks_per_transaction=1)  # type: ignore[arg-type]
        batch = batches.set_retries_async(RetriesSelection(external_task_ids=task_ids), RETRIES)
        assert gated.reached.wait(30)

        batches.stop()
        gated.release.set()  # the task it is on is finished; then it stops
        batches.close()

        stopped = other_engine.batches.get_batch(batch.id)
        assert (stopped.ended, stopped.completed_jobs) == (False, 3)
        assert event_names(other_engine, batch.id)[-1] == "Interrupted"

        assert other_engine.batches.take_up_free_batches() == [batch.id]
        finished = other_engine.batches.wait_for(batch.id, timeout=60)
        assert (finished.ended, finished.completed_jobs) == (True, 5)
        assert set(retries(other_engine.service).values()) == {RETRIES}

    def test_a_batch_stops_after_the_transaction_it_is_on(self, engine, service, other_engine, task_ids, clock):
        gated = GatedService(service, gate_at=task_ids[2])
        batches = BatchService(engine.event_store, gated, clock, tasks_per_transaction=2)  # type: ignore[arg-type]
        batch = batches.set_retries_async(RetriesSelection(external_task_ids=task_ids), RETRIES)
        assert gated.reached.wait(30)  # in its second transaction, of the third and fourth tasks

        batches.stop()
        gated.release.set()
        batches.close()

        assert other_engine.batches.get_batch(batch.id).completed_jobs == 4
        assert {t for t, r in retries(other_engine.service).items() if r == RETRIES} == set(task_ids[:4])

    def test_batches_queued_but_not_begun_are_let_go_too(self, engine, service, other_engine, task_ids, clock):
        gated = GatedService(service, gate_at=task_ids[0])
        batches = BatchService(engine.event_store, gated, clock, tasks_per_transaction=1)  # type: ignore[arg-type]
        first = batches.set_retries_async(RetriesSelection(external_task_ids=task_ids[:1]), RETRIES)
        queued = batches.set_retries_async(RetriesSelection(external_task_ids=task_ids[1:]), RETRIES)
        assert gated.reached.wait(30)

        batches.stop()
        gated.release.set()
        batches.close()

        assert batches.get_batch(first.id).ended  # its one task was done: nothing was left to let go
        assert event_names(other_engine, queued.id) == ["Created", "Interrupted"]
        assert other_engine.batches.take_up_free_batches() == [queued.id]
        assert other_engine.batches.wait_for(queued.id, timeout=60).completed_jobs == 4

    def test_a_batch_created_as_its_engine_closes_is_let_go(self, engine, service, other_engine, task_ids, clock):
        batches = BatchService(engine.event_store, service, clock)
        batches.close()
        batch = batches.set_retries_async(RetriesSelection(external_task_ids=task_ids), RETRIES)

        assert event_names(other_engine, batch.id) == ["Created", "Interrupted"]
        assert other_engine.batches.take_up_free_batches() == [batch.id]
        assert other_engine.batches.wait_for(batch.id, timeout=60).completed_jobs == 5

    def test_an_engine_whose_batch_was_taken_up_meanwhile_stops_running_it(
        self, engine, service, other_engine, task_ids, clock, caplog
    ):
        gated = GatedService(service, gate_at=task_ids[1])
        slow = BatchService(engine.event_store, gated, clock, tasks_per_transaction=1)  # type: ignore[arg-type]
        try:
            batch = slow.set_retries_async(RetriesSelection(external_task_ids=task_ids), RETRIES)
            assert gated.reached.wait(30)
            clock.advance(seconds=BATCH_LEASE.total_seconds())  # it has recorded nothing for the lease
            assert other_engine.batches.take_up_free_batches() == [batch.id]
            other_engine.batches.wait_for(batch.id, timeout=60)

            with caplog.at_level(logging.WARNING, logger="extask.application.batches"):
                gated.release.set()
                slow.wait_for(batch.id, timeout=60)
        finally:
            gated.release.set()
            slow.close()

        assert f"Batch {batch.id} was taken up by another engine" in caplog.text
        names = event_names(other_engine, batch.id)
        assert names.count("Completed") == 1 and names.count("TaskRetriesSet") == 5

    def test_a_batch_queued_here_past_its_lease_and_taken_up_elsewhere_is_not_run_here_too(
        self, engine, service, other_engine, task_ids, clock
    ):
        busy = GatedService(service, gate_at=task_ids[0])
        slow = BatchService(engine.event_store, busy, clock, tasks_per_transaction=1)  # type: ignore[arg-type]
        taking = GatedService(other_engine.service, gate_at=task_ids[3])
        taker = BatchService(other_engine.event_store, taking, clock, tasks_per_transaction=1)  # type: ignore[arg-type]
        try:
            running = slow.set_retries_async(RetriesSelection(external_task_ids=task_ids[:1]), RETRIES)
            queued = slow.set_retries_async(RetriesSelection(external_task_ids=task_ids[1:]), RETRIES)
            assert busy.reached.wait(30)
            clock.advance(seconds=BATCH_LEASE.total_seconds())
            # Neither has recorded anything for the lease: the one stuck on its task is free too.
            assert sorted(taker.take_up_free_batches()) == sorted([running.id, queued.id])
            assert taking.reached.wait(30)  # midway, nothing of its progress saved yet

            # One more batch behind the others: once it has ended here, the slow engine has been
            # past the queued one, while the taker still stood midway.
            marker = slow.set_retries_async(RetriesSelection(external_task_ids=task_ids[:1]), RETRIES)
            busy.release.set()
            slow.wait_for(marker.id, timeout=60)
            taking.release.set()
            taker.wait_for(queued.id, timeout=60)
        finally:
            busy.release.set()
            taking.release.set()
            slow.close()
            taker.close()

        assert [event_names(engine, t).count("RetriesSet") for t in task_ids[1:]] == [1, 1, 1, 1]
        assert event_names(engine, queued.id)[-1] == "Completed"


class TestFindingThem:
    def test_the_lookup_reads_only_the_batches_index_however_many_other_events_there_are(
        self, engine, service, database_url
    ):
        service.create_many([NewExternalTask(topic_name=TOPIC_NAME) for _ in range(2_000)])
        settings = settings_from_url(database_url)
        events_table = engine.event_store.recorder.events_table_name
        if settings.dialect == "sqlite":
            with sqlite3.connect(settings.library_env["SQLITE_DBNAME"]) as connection:
                connection.execute("ANALYZE")
                query = select_unfinished(events_table)
                plan = " ".join(row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {query}"))
            # The partial index holds only the batches' bounds: reading all of it is the point.
            assert f"SCAN {events_table} USING INDEX {INDEX_NAME}" in plan, plan
        else:
            with psycopg.connect(settings.admin_url, autocommit=True) as connection:
                table = f'"{settings.schema}"."{events_table}"'
                connection.execute(f"ANALYZE {table}")
                plan = " ".join(row[0] for row in connection.execute(f"EXPLAIN {select_unfinished(table)}"))
            assert INDEX_NAME in plan and "Seq Scan" not in plan, plan
