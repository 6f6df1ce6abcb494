"""What the service needs from the outside, as protocols the infrastructure implements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from extask.application.dto import (
    ExternalTaskDTO,
    FetchAndLockRequest,
    HistoricExternalTaskLogDTO,
    HistoricIncidentDTO,
    IncidentDTO,
    ProcessInstanceDTO,
)
from extask.application.queries import (
    ExternalTaskQuery,
    HistoricExternalTaskLogQuery,
    HistoricIncidentQuery,
    IncidentQuery,
    Page,
    ProcessInstanceFilter,
)
from extask.domain.variables import TypedValue


# Runs a blocking function in a worker thread and awaits it (asyncio.to_thread, or the server's
# own pool: anyio.to_thread.run_sync); positional arguments only.
RunSync = Callable[..., Awaitable[Any]]


class Clock(Protocol):
    def __call__(self) -> datetime:
        """The current time, timezone-aware UTC."""


class RuntimeReadModel(Protocol):
    """The runtime tables, always exactly consistent with the event store."""

    def select_fetchable(self, request: FetchAndLockRequest, now: datetime) -> list[tuple[str, str]]:
        """Ids and topic names of up to ``max_tasks`` fetchable tasks, in fetch order."""

    def get_task(self, task_id: str) -> ExternalTaskDTO | None: ...

    def get_error_details(self, task_id: str) -> tuple[bool, str | None]:
        """(whether the task exists, its error details)."""

    def task_ids_of_process_instance(self, process_instance_id: str) -> list[str]: ...

    def query_tasks(self, query: ExternalTaskQuery, page: Page, now: datetime) -> list[ExternalTaskDTO]:
        """Tasks matching a checked query, in its (effective) sorting order; ``now`` decides locked."""

    def count_tasks(self, query: ExternalTaskQuery, now: datetime) -> int: ...

    def task_ids(self, query: ExternalTaskQuery, now: datetime, limit: int | None = None) -> list[str]: ...

    def topic_names(self, query: ExternalTaskQuery, now: datetime) -> list[str]:
        """The distinct topic names of the matching tasks, sorted."""

    def process_instance_ids(self, instance_filter: ProcessInstanceFilter, limit: int | None = None) -> list[str]: ...

    def get_process_instance(self, process_instance_id: str) -> ProcessInstanceDTO | None: ...

    def process_variables(self, process_instance_ids: Iterable[str]) -> dict[str, dict[str, TypedValue]]: ...

    def execution_local_variables(self, execution_id: str) -> dict[str, TypedValue] | None:
        """The local variables of the runtime tasks with this execution id; None if there is no such task."""

    def query_incidents(self, query: IncidentQuery, page: Page) -> list[IncidentDTO]: ...

    def count_incidents(self, query: IncidentQuery) -> int: ...


class HistoryReadModel(Protocol):
    """The historic external-task log, built by a tracked projection of the events."""

    def catch_up(self) -> None:
        """Return once the projection has processed every event recorded before the call."""

    def query_logs(self, query: HistoricExternalTaskLogQuery, page: Page) -> list[HistoricExternalTaskLogDTO]: ...

    def count_logs(self, query: HistoricExternalTaskLogQuery) -> int: ...

    def get_log(self, log_id: str) -> HistoricExternalTaskLogDTO | None: ...

    def get_log_error_details(self, log_id: str) -> tuple[bool, str | None]:
        """(whether the log entry exists, the error details it recorded)."""

    def query_historic_incidents(self, query: HistoricIncidentQuery, page: Page) -> list[HistoricIncidentDTO]: ...

    def count_historic_incidents(self, query: HistoricIncidentQuery) -> int: ...


class TaskAvailability(Protocol):
    """Told after a commit that may have made tasks fetchable (created, unlocked, retries raised)."""

    def notify(self) -> None: ...
