"""The answer of fetch-and-lock: the locked tasks as Camunda's JSON array, none lost to another.

The array is written at once, as any answer is. Should that fail, every task is written on its
own: one whose JSON cannot be written (data stored before extask refused such values, say) is left
out of the answer and handed to the service as undeliverable (failed with no retries left, so an
incident says why), and the other tasks go out. A task that cannot be written therefore neither
fails the answer nor stays locked for nobody, fetched again after every expiry. Any other error
(no fault of a task's data) answers no task: the locks are given back, and the error goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from extask.application.dto import LockedExternalTaskDTO
from extask.application.service import ExternalTaskService
from extask.infrastructure.rest.schemas import LockedExternalTask
from extask.infrastructure.rest.wire import RenderedJSONResponse

logger = logging.getLogger(__name__)

_LOCKED_TASKS = TypeAdapter(list[LockedExternalTask])


# What writing a task's JSON raises when its data cannot be written (pydantic's serialisation
# errors are ValueErrors); anything else is no fault of the task.
UNWRITABLE = (ValueError, TypeError, RecursionError, UnicodeError, OverflowError)


async def locked_tasks_response(
    service: ExternalTaskService, tasks: Sequence[LockedExternalTaskDTO]
) -> RenderedJSONResponse:
    try:
        try:
            return RenderedJSONResponse(_json([LockedExternalTask.from_locked(task) for task in tasks], _LOCKED_TASKS))
        except UNWRITABLE:
            pass  # some task cannot be written: find which, deliver the others
        parts = []
        for task in tasks:
            try:
                parts.append(_json(LockedExternalTask.from_locked(task)))
            except UNWRITABLE as error:
                await _undeliverable(service, task, error)
        return RenderedJSONResponse(b"[" + b",".join(parts) + b"]")
    except Exception:
        # No answer goes out: every lock still this fetch's is given back before the error goes on.
        await run_in_threadpool(service.give_back, tasks)
        raise


def _json(value: Any, adapter: TypeAdapter | None = None) -> bytes:
    """As the app writes any answer: pydantic's JSON mode, then ``json.dumps`` as Starlette does."""
    content = (
        adapter.dump_python(value, mode="json", by_alias=True)
        if adapter is not None
        else value.model_dump(mode="json", by_alias=True)
    )
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


async def _undeliverable(service: ExternalTaskService, task: LockedExternalTaskDTO, error: Exception) -> None:
    logger.error("External task %s could not be written into a fetch's answer", task.task.id, exc_info=error)
    try:
        await service.handle_undeliverable_async(task, f"its answer cannot be written as JSON: {error}")
    except Exception:  # noqa: BLE001 - its lock expires; the next fetch tries again
        logger.exception("External task %s could not be failed as undeliverable", task.task.id)
