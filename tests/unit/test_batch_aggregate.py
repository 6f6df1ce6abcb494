"""The Batch aggregate on its own (no database): what was asked for, each task's outcome, the end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

from extask.domain.batch import SET_EXTERNAL_TASK_RETRIES, Batch

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
LATER = NOW + timedelta(seconds=1)


def new_batch(*task_ids: str) -> Batch:
    return Batch.set_external_task_retries(now=NOW, batch_id=uuid4(), retries=3, external_task_ids=list(task_ids))


def test_a_new_batch_records_what_was_asked_for():
    batch = new_batch("a", "b")

    assert (batch.batch_type, batch.retries, batch.external_task_ids) == (SET_EXTERNAL_TASK_RETRIES, 3, ["a", "b"])
    assert (batch.created_on, batch.execution_start_time, batch.ended) == (NOW, None, False)
    assert batch.pending_task_ids() == ["a", "b"]


def test_outcomes_and_the_end_are_events():
    batch = new_batch("a", "b", "c")

    batch.start(LATER)
    batch.start(LATER + timedelta(seconds=1))  # started once
    batch.record_success("b", LATER)
    batch.record_failure("a", "NotFoundException", "gone", LATER)

    assert batch.pending_task_ids() == ["c"]
    assert (batch.succeeded, batch.failures) == (["b"], [("a", "NotFoundException", "gone")])

    batch.record_success("c", LATER)
    batch.complete(LATER)
    batch.complete(LATER)  # ends once

    assert (batch.ended, batch.end_time, batch.execution_start_time) == (True, LATER, LATER)
    assert [type(e).__name__ for e in batch.collect_events()] == [
        "Created", "Started", "TaskRetriesSet", "TaskFailed", "TaskRetriesSet", "Completed"
    ]


LEASE = timedelta(seconds=60)


def test_a_batch_its_engine_let_go_is_free_at_once_until_another_takes_it_up():
    batch = new_batch("a", "b")
    batch.start(NOW)
    batch.record_success("a", NOW)

    assert not batch.is_free(NOW, LEASE)  # its engine is running it
    batch.interrupt(LATER)
    batch.interrupt(LATER)  # let go once
    assert batch.is_free(LATER, LEASE)
    batch.resume(LATER)
    assert not batch.is_free(LATER, LEASE)
    assert batch.pending_task_ids() == ["b"]
    assert [type(e).__name__ for e in batch.collect_events()][-2:] == ["Interrupted", "Resumed"]


def test_a_batch_that_recorded_nothing_for_the_lease_is_free():
    batch = new_batch("a")
    batch.record_success("a", NOW)

    assert not batch.is_free(NOW + LEASE - timedelta(milliseconds=1), LEASE)
    assert batch.is_free(NOW + LEASE, LEASE)


def test_an_ended_batch_is_never_free_nor_let_go():
    batch = new_batch("a")
    batch.record_success("a", NOW)
    batch.complete(NOW)
    batch.interrupt(LATER)

    assert not batch.is_free(NOW + 10 * LEASE, LEASE)
    assert type(batch.collect_events()[-1]).__name__ == "Completed"


def test_the_latest_event_alone_tells_whether_a_batch_is_free():
    batch = new_batch("a", "b")
    moments = [NOW, NOW + LEASE - timedelta(milliseconds=1), NOW + LEASE, NOW + 2 * LEASE]
    steps = [
        lambda: None,  # just created
        lambda: batch.start(NOW),
        lambda: batch.record_success("a", NOW),
        lambda: batch.interrupt(NOW),
        lambda: batch.resume(NOW),
        lambda: batch.record_success("b", NOW),
        lambda: batch.complete(NOW),
    ]
    for step in steps:
        step()
        [latest] = batch.collect_events()  # each step records one event
        for moment in moments:
            assert Batch.is_free_after(latest, moment, LEASE) == batch.is_free(moment, LEASE), (latest, moment)
