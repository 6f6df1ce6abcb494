"""Rule violations raised by the aggregates.

Each error carries the message Camunda 7 gives for the same violation and ``camunda_type``: the
exception name Camunda's REST API reports for it, so every outer layer can report it faithfully.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command the aggregate refuses."""

    camunda_type = "ProcessEngineException"

    def __init__(self, message: str, camunda_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if camunda_type is not None:
            self.camunda_type = camunda_type


class InvalidArgument(DomainError):
    """An argument is missing or out of range (``ensure...`` checks in Camunda)."""


class LockedByOtherWorker(DomainError):
    """The worker does not hold the task's lock."""

    camunda_type = "RestException"


class LockExpired(DomainError):
    """extendLock on a lock that has already expired."""

    camunda_type = "RestException"


class TaskSuspended(DomainError):
    """A worker command on a suspended task."""

    camunda_type = "RestException"


class NothingThere(DomainError):
    """The command names something the aggregate does not have (any more)."""

    camunda_type = "RestException"


class TaskRemoved(NothingThere):
    """The task has been completed, deleted or ended by a BPMN error."""


class NoOpenIncident(NothingThere):
    """The task has no open incident with the given id."""

    camunda_type = "InvalidRequestException"


def java_text(value: object) -> str:
    """A value as Camunda's (Java's) messages print it: null, true, false."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ensure_not_null(name: str, value: object) -> None:
    if value is None:
        raise InvalidArgument(f"{name} is null", "NullValueException")


def ensure_positive(name: str, value: int) -> None:
    if value <= 0:
        raise InvalidArgument(f"{name} is not greater than 0")


def ensure_not_negative(name: str, value: int) -> None:
    if value < 0:
        raise InvalidArgument(f"{name} is not greater than or equal to 0")


JAVA_INT_MAX = 2**31 - 1
JAVA_LONG_MAX = 2**63 - 1


def ensure_java_int(name: str, value: int) -> None:
    """Camunda stores the value in a Java int; a larger one is bad input on every backend."""
    if not -JAVA_INT_MAX - 1 <= value <= JAVA_INT_MAX:
        raise InvalidArgument(f"{name} is out of range for an Integer: {value}", "InvalidRequestException")


def ensure_java_long(name: str, value: int) -> None:
    if not -JAVA_LONG_MAX - 1 <= value <= JAVA_LONG_MAX:
        raise InvalidArgument(f"{name} is out of range for a Long: {value}", "InvalidRequestException")
