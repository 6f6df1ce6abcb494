"""The Batch aggregate on its own (no database): what was asked for, each task's outcome, the end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

from domain.batch import SET_EXTERNAL_TASK_RETRIES, Batch

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
