"""Values a backend cannot store: PostgreSQL's text holds no U+0000 (NUL) character, and no
UTF-8 holds an unpaired surrogate (which JSON text can escape: "\ud800").

A command carrying one is refused with a clear error and changes nothing; SQLite stores a NUL and
reads it back as it was sent.
"""

from __future__ import annotations

import asyncio

import pytest

from extask.application.errors import BadRequest

from .helpers import WORKER_ID, event_names, raises

NUL_REFUSED = "PostgreSQL cannot store the character U+0000 (NUL) in text; it was found in the request's values"


def on_postgres(engine) -> bool:
    return engine.event_store.recorder.dialect.name == "postgres"


def test_a_failure_whose_error_message_holds_a_nul(engine, service, locked):
    task_id = locked.task.id
    if on_postgres(engine):
        with raises(BadRequest, NUL_REFUSED):
            service.handle_failure(task_id, WORKER_ID, error_message="disk\x00full", retries=1)
        assert event_names(engine, task_id) == ["Created", "Locked"]
        assert service.get_task(task_id).worker_id == WORKER_ID  # still locked, unchanged
    else:
        service.handle_failure(task_id, WORKER_ID, error_message="disk\x00full", retries=1)
        assert service.get_task(task_id).error_message == "disk\x00full"


@pytest.mark.parametrize("asynchronously", [False, True], ids=["sync", "async"])
def test_a_completion_with_a_string_variable_holding_a_nul(engine, service, locked, asynchronously):
    task_id = locked.task.id
    variables = {"note": "a\x00b"}
    complete = (
        (lambda: asyncio.run(service.complete_async(task_id, WORKER_ID, variables)))
        if asynchronously
        else (lambda: service.complete(task_id, WORKER_ID, variables))
    )
    if on_postgres(engine):
        with raises(BadRequest, NUL_REFUSED):
            complete()
        assert event_names(engine, task_id) == ["Created", "Locked"]
        assert service.get_task(task_id).id == task_id  # not completed
    else:
        complete()
        instance = locked.task.process_instance_id
        assert service.get_process_variables(instance)["note"].value == "a\x00b"


def test_a_backslash_and_u0000_written_out_is_plain_text(engine, service, locked):
    """Six characters, not a NUL: stored on every backend."""
    service.handle_failure(locked.task.id, WORKER_ID, error_message="\\u0000", retries=1)
    assert service.get_task(locked.task.id).error_message == "\\u0000"


@pytest.mark.parametrize("asynchronously", [False, True], ids=["sync", "async"])
def test_a_failure_whose_error_message_holds_an_unpaired_surrogate(engine, service, locked, asynchronously):
    task_id = locked.task.id
    fail = (
        (lambda: asyncio.run(service.handle_failure_async(task_id, WORKER_ID, error_message="x\ud800y", retries=1)))
        if asynchronously
        else (lambda: service.handle_failure(task_id, WORKER_ID, error_message="x\ud800y", retries=1))
    )
    with raises(BadRequest, "Text in the request is not valid Unicode: it holds an unpaired surrogate (U+D800 to U+DFFF)"):
        fail()
    assert event_names(engine, task_id) == ["Created", "Locked"]


def test_a_variable_name_with_an_unpaired_surrogate_completes_nothing(engine, service, locked):
    with raises(BadRequest):
        service.complete(locked.task.id, WORKER_ID, {"\udfff": 1})
    assert event_names(engine, locked.task.id) == ["Created", "Locked"]
