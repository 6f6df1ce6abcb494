"""BatchService: operator commands over many tasks, run in the background and kept as Batch aggregates.

``set_retries_async`` resolves its selection to task ids at once, so the batch records exactly
which tasks it covers, saves the batch and answers it. A background thread then sets each task's
retries, a hundred tasks a transaction, each still a command of its own
(``ExternalTaskService.set_retries_each``), and records every outcome on the batch. As
in Camunda, an unknown task id or a negative retries value is found only when the batch runs,
and fails that task alone. Progress is saved as the batch begins, every ``PROGRESS_EVERY`` tasks
and at least every quarter of ``BATCH_LEASE``.

A batch covers at most ``Limits.items_per_batch`` tasks, counting the ids given and those its
queries find; a selection of more is refused with a 400 naming the limit, before anything is
saved (narrow the query, e.g. by topic or process instance, or raise the limit). The batch records
its task ids in its first event and one event per task, and every read of it (``GET /batch``,
its run, a take-up) replays them all, so its cost in memory and time grows with its size: a
query finding millions of tasks must not make a batch that nobody can read quickly. This is a
deliberate difference from Camunda, whose batches split any number of instances into jobs.

No batch is left unfinished for good. An engine that closes stops its batches between two
transactions and lets them go (``Batch.Interrupted``); one that crashed is taken to have done so
once its batch has recorded nothing for ``BATCH_LEASE``. ``start`` makes this engine look for such
batches at once and then every half lease, and take them up (``Batch.Resumed``): two engines
taking up one batch write the same next version of it, so only one of them can. An engine that
finds its batch taken up meanwhile (it was slower than the lease) stops running it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from extask.application.command_bus import utc_now
from extask.application.dto import BatchDTO, BatchFailureDTO
from extask.application.errors import ApplicationError, BadRequest, NotFound
from extask.application.event_store import ExternalTaskEventStore
from extask.application.limits import Limits, check_count
from extask.application.ports import Clock
from extask.application.queries import RetriesSelection
from extask.application.service import ExternalTaskService
from extask.domain.batch import Batch
from extask.domain.external_task import to_millisecond

PROGRESS_EVERY = 100
# How long a batch that records nothing is taken to be still running somewhere.
BATCH_LEASE = timedelta(seconds=60)

logger = logging.getLogger(__name__)


class BatchService:
    def __init__(
        self,
        event_store: ExternalTaskEventStore,
        service: ExternalTaskService,
        clock: Clock = utc_now,
        *,
        tasks_per_transaction: int = PROGRESS_EVERY,
        limits: Limits | None = None,
    ) -> None:
        self._event_store = event_store
        self._service = service
        # None: the service's (a stand-in service without limits of its own has the defaults).
        self._limits = limits if limits is not None else getattr(service, "limits", Limits())
        self._clock = clock
        # A batch stops between two transactions, so a test that stops one midway takes them small.
        self._tasks_per_transaction = tasks_per_transaction
        self._queue: queue.Queue[tuple[UUID, bool] | None] = queue.Queue()
        # The batches queued or running here, each with what tells ``wait_for`` it has stopped.
        self._finished: dict[UUID, threading.Event] = {}
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._looking: threading.Thread | None = None
        self._closing = threading.Event()
        self._drained = False  # closed: nothing queued now would ever run

    def set_retries_async(self, selection: RetriesSelection, retries: int | None) -> BatchDTO:
        """Start a ``set-external-task-retries`` batch over the selected tasks; answers at once."""
        if retries is None:
            raise BadRequest("The number of retries cannot be null.")
        limit = self._limits.items_per_batch
        # The ids given are counted before any query runs; then all the ids the selection finds.
        check_count(len(selection.external_task_ids or []), limit, "External task ids of the batch", "items_per_batch")
        task_ids = self._service.external_task_ids(selection)
        check_count(len(task_ids), limit, "Tasks the batch selects", "items_per_batch")
        batch = Batch.set_external_task_retries(
            now=self._now(), batch_id=uuid4(), retries=retries, external_task_ids=task_ids
        )
        self._register(batch.id)  # before it is saved: this engine's own batch is never free here
        try:
            self._event_store.save(batch)
        except BaseException:
            self._unregister(batch.id)
            raise
        self._queue_up(batch.id, take_up=False)
        return batch_dto(batch)

    def start(self) -> None:
        """Look for batches that other engines let go or left standing, now and every half lease,
        and take them up. (An engine that only reads, such as ``extask replay``, never starts.)"""
        with self._lock:
            if self._looking is None and not self._closing.is_set():
                self._looking = threading.Thread(target=self._look_for_free_batches, name="extask-batch-takeover", daemon=True)
                self._looking.start()

    def take_up_free_batches(self) -> list[str]:
        """Queue every batch that is free (see ``Batch.is_free``) and not already running here; the
        ids queued."""
        queued = []
        now = self._now()
        for batch_id in self._event_store.unfinished_batch_ids():
            if self._closing.is_set():
                break
            with self._lock:
                if batch_id in self._finished:
                    continue
            # Its latest event tells, and costs one row where the whole batch is an event a task.
            [latest] = self._event_store.events.get(batch_id, desc=True, limit=1)
            if Batch.is_free_after(latest, now, BATCH_LEASE) and self._register(batch_id):
                self._queue_up(batch_id, take_up=True)
                queued.append(str(batch_id))
        return queued

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

    def stop(self) -> None:
        """Take up nothing more, and stop the running batch after its current transaction; returns
        at once (``close`` waits)."""
        self._closing.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the background threads once their current work is done, and let go of every batch
        that has not ended here."""
        self.stop()
        with self._lock:
            looking = self._looking
        if looking is not None:
            looking.join(timeout)  # it may have queued batches up to the last moment
        with self._lock:
            worker = self._worker
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout)
            if worker.is_alive():
                return  # still on its task: it lets go of what was queued before it stops
        with self._lock:
            self._drained = True
            left = []
            while True:  # queued after the worker stopped: never begun here
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                if queued is not None:
                    left.append(queued)
        for batch_id, take_up in left:
            self._leave(batch_id, take_up)

    # -- the background threads -----------------------------------------------------------------

    def _look_for_free_batches(self) -> None:
        while not self._closing.is_set():
            try:
                self.take_up_free_batches()
            except Exception:
                logger.exception("Looking for batches to take up failed; looking again in %s", BATCH_LEASE / 2)
            self._closing.wait((BATCH_LEASE / 2).total_seconds())

    def _register(self, batch_id: UUID) -> bool:
        """Mark the batch as queued or running here; False if it already is."""
        with self._lock:
            if batch_id in self._finished:
                return False
            self._finished[batch_id] = threading.Event()
            return True

    def _unregister(self, batch_id: UUID) -> None:
        with self._lock:
            finished = self._finished.pop(batch_id, None)
        if finished is not None:
            finished.set()

    def _queue_up(self, batch_id: UUID, *, take_up: bool) -> None:
        with self._lock:
            drained = self._drained
            if not drained:
                if self._worker is None:
                    self._worker = threading.Thread(target=self._work, name="extask-batches", daemon=True)
                    self._worker.start()
                self._queue.put((batch_id, take_up))
        if drained:  # created as the engine closed: nothing here will run it
            self._leave(batch_id, take_up)

    def _work(self) -> None:
        while (queued := self._queue.get()) is not None:
            batch_id, take_up = queued
            if self._closing.is_set():
                self._leave(batch_id, take_up)
                continue
            try:
                self._execute(batch_id, take_up)
            except Exception:
                logger.exception("Batch %s stopped", batch_id)
            finally:
                self._unregister(batch_id)

    def _execute(self, batch_id: UUID, take_up: bool) -> None:
        batch: Batch = self._event_store.repository.get(batch_id)
        if take_up:
            if not batch.is_free(self._now(), BATCH_LEASE):
                return  # another engine took it up since it was found
            batch.resume(self._now())
            if not self._save(batch):
                return
        elif not _as_created(batch):
            return  # queued here longer than the lease, it was taken up elsewhere
        if batch.execution_start_time is None:
            batch.start(self._now())
            # Saved at once: it renews the lease, which may be nearly over for a batch that waited
            # in the queue, and an engine that took the batch up meanwhile is found before any task.
            if not self._save(batch):
                return
        saved_at = self._now()
        pending = batch.pending_task_ids()
        since_saved = 0
        for start in range(0, len(pending), self._tasks_per_transaction):
            if self._closing.is_set():
                batch.interrupt(self._now())
                break
            chunk = pending[start : start + self._tasks_per_transaction]
            for task_id, outcome in zip(chunk, self._service.set_retries_each(chunk, batch.retries)):
                self._record(batch, task_id, outcome)
            since_saved += len(chunk)
            # Also every quarter lease, on the clock other engines judge the lease by.
            if since_saved >= PROGRESS_EVERY or self._now() - saved_at >= BATCH_LEASE / 4:
                if not self._save(batch):
                    return
                saved_at, since_saved = self._now(), 0
        if not batch.pending_task_ids():
            batch.complete(self._now())
        self._save(batch)

    def _record(self, batch: Batch, task_id: str, outcome: Exception | None) -> None:
        if outcome is None:
            batch.record_success(task_id, self._now())
        elif isinstance(outcome, NotFound):
            # What Camunda's batch job reports for a task that is gone by the time it runs.
            message = f"Cannot find external task with id {task_id}: externalTask is null"
            batch.record_failure(task_id, "NotFoundException", message, self._now())
        elif isinstance(outcome, ApplicationError):
            batch.record_failure(task_id, outcome.camunda_type, outcome.message, self._now())
        else:  # the task's outcome is unknown to the batch: record why
            batch.record_failure(task_id, type(outcome).__name__, str(outcome), self._now())

    def _save(self, batch: Batch) -> bool:
        """Save the batch's new events; False if another engine has taken it up meanwhile."""
        try:
            self._event_store.save(batch)
        except IntegrityError:
            logger.warning("Batch %s was taken up by another engine; this one stops running it", batch.id)
            return False
        return True

    def _leave(self, batch_id: UUID, take_up: bool) -> None:
        """A batch queued here that will not run here: this engine's own is let go, so that the
        next engine need not wait out its lease; one queued to be taken up was never this engine's
        to let go (another may have taken it up since)."""
        try:
            if not take_up:
                batch: Batch = self._event_store.repository.get(batch_id)
                if _as_created(batch):
                    batch.interrupt(self._now())
                    self._save(batch)
        except Exception:  # it is free all the same once its lease runs out
            logger.exception("Batch %s could not be let go", batch_id)
        finally:
            self._unregister(batch_id)

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


def _as_created(batch: Batch) -> bool:
    """Whether the batch still stands as its engine created it: until it runs there, only
    another engine taking it up changes it."""
    return batch.version == 1


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
