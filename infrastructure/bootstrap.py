"""The composition root: builds the engine (event store, read models, service) from a database URL.

Everything that runs extask, from ``extask serve`` to the tests and benchmarks, goes through
``build_engine``; nothing connects to a database before it is called.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.event_store import ExternalTaskEventStore
from application.ports import Clock
from application.service import ExternalTaskService, utc_now
from infrastructure.persistence.database import settings_from_url
from infrastructure.persistence.history_read_model import SqlHistoryReadModel
from infrastructure.persistence.runtime_read_model import SqlRuntimeReadModel
from infrastructure.persistence.sql import Dialect


@dataclass
class Engine:
    service: ExternalTaskService
    event_store: ExternalTaskEventStore
    runtime: SqlRuntimeReadModel
    history: SqlHistoryReadModel

    def close(self) -> None:
        self.event_store.close()


def build_engine(database_url: str, clock: Clock = utc_now) -> Engine:
    """Open (and on first use create) the database at ``database_url`` and wire the service to it."""
    settings = settings_from_url(database_url)
    event_store = ExternalTaskEventStore(env=settings.library_env)
    dialect = Dialect(settings.dialect, settings.schema)
    runtime = SqlRuntimeReadModel(event_store.recorder.datastore, dialect)
    history = SqlHistoryReadModel(event_store, event_store.factory.tracking_recorder(), dialect)
    service = ExternalTaskService(event_store, runtime, history, clock=clock)
    return Engine(service=service, event_store=event_store, runtime=runtime, history=history)
