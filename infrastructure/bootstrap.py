"""The composition root: builds the engine (event store, read models, service, long polling) from a
database URL.

Everything that runs extask, from ``extask serve`` to the tests and benchmarks, goes through
``build_engine``; nothing connects to a database before it is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio.to_thread

from extask.application.audit import AuditTrail
from extask.application.batches import BatchService
from extask.application.command_bus import utc_now
from extask.application.event_store import ExternalTaskEventStore
from extask.application.limits import Limits
from extask.application.long_polling import DEFAULT_MAX_PARKED_POLLS, LongPoller
from extask.application.ports import Clock
from extask.application.service import ExternalTaskService
from extask.infrastructure.notifications import InProcessSignal
from extask.infrastructure.persistence.bounded_reads import Reads, bounded_reads
from extask.infrastructure.persistence.database import settings_from_url
from extask.infrastructure.persistence.history_read_model import SqlHistoryReadModel
from extask.infrastructure.persistence.replay import ReadModelReplay
from extask.infrastructure.persistence.runtime_read_model import SqlRuntimeReadModel
from extask.infrastructure.persistence.schema import create_tables
from extask.infrastructure.persistence.sql import Dialect
from extask.infrastructure.postgres_notifications import PostgresSignal
from extask.infrastructure.sqlite_notifications import SqliteSignal

# Group-commit writers per server process. On PostgreSQL a second one has its transaction queued on
# the event store's lock while the first commits (scripts/bench.py in-process, thirteen runs side
# by side: the ratio to the bare queue higher in ten, 0.61 against 0.56 on average; a third writer
# added nothing). SQLite writes one transaction at a time, and a second connection waiting for it
# would poll for the lock.
COMMIT_WRITERS = {"postgres": 2, "sqlite": 1}


@dataclass
class Engine:
    service: ExternalTaskService
    event_store: ExternalTaskEventStore
    runtime: SqlRuntimeReadModel
    history: SqlHistoryReadModel
    # A task's timeline and past states, from the event store.
    audit: AuditTrail
    # Rebuilds or verifies the read models from the event store (``extask replay``).
    replay: ReadModelReplay
    # Told after commits that may make tasks fetchable; wakes parked long polls, also in the
    # other processes on the same database.
    wake_ups: InProcessSignal | PostgresSignal | SqliteSignal = field(default_factory=InProcessSignal)
    long_polling: LongPoller | None = None
    # Bulk commands running in the background (retries-async).
    batches: BatchService | None = None
    # The connections the operators' and auditors' queries run on (their own on PostgreSQL).
    query_reads: Reads | None = None

    def close(self) -> None:
        if self.batches is not None:
            self.batches.close()
        if self.long_polling is not None:
            self.long_polling.shutdown()
        self.wake_ups.close()
        self.service.close()
        if self.query_reads is not None:
            self.query_reads.close()
        self.event_store.close()


def build_engine(
    database_url: str,
    clock: Clock = utc_now,
    *,
    max_parked_polls: int = DEFAULT_MAX_PARKED_POLLS,
    max_parked_polls_per_client: int | None = None,
    limits: Limits = Limits(),
) -> Engine:
    """Open (and on first use create) the database at ``database_url`` and wire the service to it,
    refusing requests beyond ``limits``. Long polls: at most ``max_parked_polls`` held at a time,
    ``max_parked_polls_per_client`` of them for one client (None: a quarter)."""
    settings = settings_from_url(database_url)
    event_store = ExternalTaskEventStore(env=settings.library_env, cache_bytes=limits.cache_bytes)
    tracking_recorder = event_store.factory.tracking_recorder()
    create_tables(settings, [event_store.recorder, tracking_recorder])
    dialect = Dialect(settings.dialect, settings.schema)
    # Reads are stopped after limits.query_seconds; queries cannot take the commits' connections.
    worker_reads, query_reads = bounded_reads(settings, event_store.recorder.datastore, limits.query_seconds)
    runtime = SqlRuntimeReadModel(worker_reads, query_reads, dialect)
    history = SqlHistoryReadModel(event_store, tracking_recorder, dialect, query_reads)
    wake_ups = (
        PostgresSignal.from_settings(settings) if settings.dialect == "postgres" else SqliteSignal.from_settings(settings)
    )
    # The coroutine commands block in the server's thread pool, as FastAPI's sync routes do
    # (asyncio's default pool has a few threads per core).
    service = ExternalTaskService(
        event_store, runtime, history, clock=clock, availability=wake_ups, run_sync=anyio.to_thread.run_sync,
        commit_writers=COMMIT_WRITERS[settings.dialect], limits=limits,
    )
    long_polling = LongPoller(
        service.fetch_and_lock,
        runtime.next_availability,
        runtime.earliest_by_topic,
        wake_ups,
        clock,
        max_parked=max_parked_polls,
        max_parked_per_client=max_parked_polls_per_client,
        run_sync=anyio.to_thread.run_sync,
    )
    return Engine(
        service=service, event_store=event_store, runtime=runtime, history=history,
        audit=AuditTrail(event_store), replay=ReadModelReplay(settings, event_store, tracking_recorder),
        wake_ups=wake_ups, long_polling=long_polling,
        batches=BatchService(event_store, service, clock, limits=limits), query_reads=query_reads,
    )
