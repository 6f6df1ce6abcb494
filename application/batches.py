"""BatchService: operator commands over many tasks, run in the background and kept as Batch aggregates.

``set_retries_async`` resolves its selection to task ids at once, so the batch records exactly
which tasks it covers, saves the batch and answers it. A background thread then sets each task's
retries through ``ExternalTaskService.set_retries`` and records every outcome on the batch. As
in Camunda, an unknown task id or a negative retries value is found only when the batch runs,
and fails that task alone. Progress is saved every ``PROGRESS_EVERY`` tasks; a batch still
running when the engine closes stops between two tasks and keeps what it has recorded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from application.dto import BatchDTO, BatchFailureDTO
from application.errors import ApplicationError, BadRequest, NotFound
from application.event_store import ExternalTaskEventStore
from application.ports import Clock
from application.queries import RetriesSelection
from application.service import ExternalTaskService, utc_now
from domain.batch import Batch
from domain.external_task import to_millisecond

PROGRESS_EVERY = 100

logger = logging.getLogger(__name__)


class BatchService:
    def __init__(self, event_store: ExternalTaskEventStore, service: ExternalTaskService, clock: Clock = utc_now) -> None:
        self._event_store = event_store
        self._service = service
        self._clock = clock
        self._queue: queue.Queue[UUID | None] = queue.Queue()
        self._finished: dict[UUID, threading.Event] = {}
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._closing = threading.Event()

    def set_retries_async(self, selection: RetriesSelection, retries: int | None) -> BatchDTO:
        """Start a ``set-external-task-retries`` batch over the selected tasks; answers at once."""
        if retries is None:
            raise BadRequest("The number of retries cannot be null.")
        task_ids = self._service.external_task_ids(selection)
        batch = Batch.set_external_task_retries(
            now=self._now(), batch_id=uuid4(), retries=retries, external_task_ids=task_ids
        )
        self._event_store.save(batch)
        self._submit(batch.id)
        return batch_dto(batch)

    def get_batch(self, batch_id: str) -> BatchDTO:
        return batch_dto(self._load(batch_id))

    def wait_for(self, batch_id: str, timeout: float = 30.0) -> BatchDTO:
        """The batch once it has ended; TimeoutError if it has not within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        batch = self._load(batch_id)
        finished = self._finished.get(batch.id)
        if finished is not None:
            finished.wait(timeout)
        while True:
            batch = self._load(batch_id)
            if batch.ended:
                return batch_dto(batch)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Batch {batch_id} has not ended within {timeout} s")
            # Run by another server process: poll the event store until the deadline.
            time.sleep(0.05)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the background thread after the task it is working on."""
        self._closing.set()
        with self._lock:
            worker = self._worker
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout)

    # -- the background thread ------------------------------------------------------------------

    def _submit(self, batch_id: UUID) -> None:
        with self._lock:
            self._finished[batch_id] = threading.Event()
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="extask-batches", daemon=True)
                self._worker.start()
        self._queue.put(batch_id)

    def _work(self) -> None:
        while (batch_id := self._queue.get()) is not None and not self._closing.is_set():
            try:
                self._execute(batch_id)
            except Exception:
                logger.exception("Batch %s stopped", batch_id)
            finally:
                with self._lock:
                    finished = self._finished.pop(batch_id, None)
                if finished is not None:
                    finished.set()

    def _execute(self, batch_id: UUID) -> None:
        batch: Batch = self._event_store.repository.get(batch_id)
        batch.start(self._now())
        for count, task_id in enumerate(batch.pending_task_ids(), start=1):
            if self._closing.is_set():
                break
            try:
                self._service.set_retries(task_id, batch.retries)
            except NotFound:
                # What Camunda's batch job reports for a task that is gone by the time it runs.
                message = f"Cannot find external task with id {task_id}: externalTask is null"
                batch.record_failure(task_id, "NotFoundException", message, self._now())
            except ApplicationError as error:
                batch.record_failure(task_id, error.camunda_type, error.message, self._now())
            except Exception as error:  # the task's outcome is unknown to the batch: record why
                batch.record_failure(task_id, type(error).__name__, str(error), self._now())
            else:
                batch.record_success(task_id, self._now())
            if count % PROGRESS_EVERY == 0:
                self._event_store.save(batch)
        if not batch.pending_task_ids():
            batch.complete(self._now())
        self._event_store.save(batch)

    # -- helpers --------------------------------------------------------------------------------

    def _load(self, batch_id: str) -> Batch:
        try:
            batch = self._event_store.repository.get(UUID(str(batch_id)))
        except (ValueError, AggregateNotFoundError):
            batch = None
        if not isinstance(batch, Batch):
            raise NotFound(f"Batch with id '{batch_id}' does not exist", "InvalidRequestException")
        return batch

    def _now(self) -> datetime:
        return to_millisecond(self._clock())


def batch_dto(batch: Batch) -> BatchDTO:
    return BatchDTO(
        id=str(batch.id),
        type=batch.batch_type,
        total_jobs=len(batch.external_task_ids),
        jobs_created=len(batch.succeeded) + len(batch.failures),
        start_time=batch.created_on,
        execution_start_time=batch.execution_start_time,
        retries=batch.retries,
        completed_jobs=len(batch.succeeded),
        failed_jobs=len(batch.failures),
        ended=batch.ended,
        end_time=batch.end_time,
        failures=[BatchFailureDTO(*failure) for failure in batch.failures],
    )
