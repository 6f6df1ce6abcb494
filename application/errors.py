"""The small error taxonomy callers of the service see.

Each error keeps the Camunda message and exception name (``camunda_type``) and, where Camunda
reports one, an integer ``code``; the REST layer maps the class to a status code.
"""

from __future__ import annotations

from extask.domain.errors import (
    DomainError,
    LockedByOtherWorker,
    LockExpired,
    NothingThere,
    TaskSuspended,
)


class ApplicationError(Exception):
    camunda_type = "ProcessEngineException"
    code: int | None = None

    def __init__(self, message: str, camunda_type: str | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if camunda_type is not None:
            self.camunda_type = camunda_type
        if code is not None:
            self.code = code


class NotFound(ApplicationError):
    """The task, log entry, incident or process instance does not exist."""

    camunda_type = "RestException"


class BadRequest(ApplicationError):
    """The input is missing, malformed or out of range; nothing was changed."""

    camunda_type = "InvalidRequestException"


class Conflict(ApplicationError):
    """The command conflicts with the task's state: another worker holds its lock, or the lock expired."""

    camunda_type = "RestException"


class Suspended(ApplicationError):
    """A worker command on a suspended task."""

    camunda_type = "RestException"


class Unavailable(ApplicationError):
    """The engine cannot take the request now (every connection for queries is busy); nothing
    was changed, and the same request may succeed later."""

    retry_after_seconds = 1


class ConcurrentModification(ApplicationError):
    """Concurrent writers kept winning and retrying on fresh state did not get through."""

    camunda_type = "OptimisticLockingException"
    code = 1


def from_domain_error(error: DomainError) -> ApplicationError:
    # Camunda reports the engine exception's code, 0, for every refusal by the engine.
    if isinstance(error, NothingThere):
        return NotFound(error.message, error.camunda_type, code=0)
    if isinstance(error, TaskSuspended):
        return Suspended(error.message, error.camunda_type, code=0)
    if isinstance(error, (LockedByOtherWorker, LockExpired)):
        return Conflict(error.message, error.camunda_type, code=0)
    return BadRequest(error.message, error.camunda_type, code=0)
