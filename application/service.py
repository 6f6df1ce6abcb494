"""ExternalTaskService: one method per use case, named after Camunda's Java ExternalTaskService.

The service only composes: the use cases live by who asks for them (``task_creation``,
``worker_use_cases``, ``operator_use_cases``, ``process_instance_use_cases``), how a command is
decided, committed and decided again on conflict lives in ``command_bus``, and the read side in
``reads``.
"""

from __future__ import annotations

import asyncio

from extask.application.command_bus import CommandBus, utc_now
from extask.application.event_store import ExternalTaskEventStore
from extask.application.limits import Limits
from extask.application.operator_use_cases import OperatorUseCases
from extask.application.ports import (
    Clock,
    HistoryReadModel,
    RunSync,
    RuntimeReadModel,
    TaskAvailability,
)
from extask.application.process_instance_use_cases import ProcessInstanceUseCases
from extask.application.reads import ExternalTaskReads
from extask.application.task_creation import TaskCreation
from extask.application.worker_use_cases import WorkerUseCases

__all__ = ["ExternalTaskService"]


class ExternalTaskService(TaskCreation, WorkerUseCases, OperatorUseCases, ProcessInstanceUseCases, ExternalTaskReads):
    def __init__(
        self,
        event_store: ExternalTaskEventStore,
        runtime: RuntimeReadModel,
        history: HistoryReadModel,
        clock: Clock = utc_now,
        availability: TaskAvailability | None = None,
        run_sync: RunSync = asyncio.to_thread,
        commit_writers: int = 1,
        limits: Limits = Limits(),
    ) -> None:
        CommandBus.__init__(
            self, event_store, clock=clock, availability=availability, run_sync=run_sync, commit_writers=commit_writers
        )
        self._runtime = runtime
        self._history = history
        self.limits = limits
