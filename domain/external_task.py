"""The ExternalTask aggregate: one unit of work on a topic, from creation to its end.

Every state change is an event. The rules follow Camunda 7 exactly: the worker check (not the
expiry check) on complete, failure and BPMN error; null retries meaning "not failed yet"; an
incident on the transition to 0 retries and its resolution on the way back or on completion;
failure keeping the worker and pushing the lock expiration to now + retryTimeout; extendLock only
by the holder of an unexpired lock; suspension blocking worker commands. Time is always passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate

from extask.domain.errors import (
    InvalidArgument,
    LockedByOtherWorker,
    LockExpired,
    NoOpenIncident,
    TaskRemoved,
    TaskSuspended,
    ensure_java_int,
    ensure_java_long,
    ensure_not_negative,
    ensure_not_null,
    ensure_positive,
)

ERROR_MESSAGE_MAX_LENGTH = 666


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def expiration(now: datetime, milliseconds: int, argument: str) -> datetime:
    """now + a duration in ms; a duration beyond the calendar is bad input, not a crash."""
    try:
        return now + timedelta(milliseconds=milliseconds)
    except OverflowError:
        raise InvalidArgument(f"{argument} is too large: {milliseconds}") from None


def to_millisecond(moment: datetime) -> datetime:
    """``moment`` cut to whole milliseconds: Camunda keeps times to the millisecond, so do the read
    models, and so must the rules and every comparison with a Camunda date."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def epoch_millis(moment: datetime) -> int:
    # Integer arithmetic: float timestamps can turn .123 seconds into 122 milliseconds.
    return (moment - EPOCH) // timedelta(milliseconds=1)


class ExternalTask(Aggregate):
    """An external task, identified by a UUID; see the module docstring for its rules."""

    class Created(Aggregate.Created):
        class_version = 1
        topic_name: str
        process_instance_id: str
        process_definition_id: str | None
        process_definition_key: str | None
        process_definition_version_tag: str | None
        activity_id: str | None
        activity_instance_id: str | None
        execution_id: str | None
        business_key: str | None
        tenant_id: str | None
        priority: int
        retries: int | None
        suspended: bool
        extension_properties: dict[str, str]
        local_variables: dict[str, dict[str, Any]]

    class Locked(Aggregate.Event):
        class_version = 1
        worker_id: str
        lock_expiration_time: datetime

        def apply(self, task: ExternalTask) -> None:
            task.worker_id = self.worker_id
            task.lock_expiration_time = self.lock_expiration_time

    class LockExtended(Aggregate.Event):
        class_version = 1
        lock_expiration_time: datetime

        def apply(self, task: ExternalTask) -> None:
            task.lock_expiration_time = self.lock_expiration_time

    class Unlocked(Aggregate.Event):
        class_version = 1

        def apply(self, task: ExternalTask) -> None:
            task.worker_id = None
            task.lock_expiration_time = None

    class Completed(Aggregate.Event):
        class_version = 2
        worker_id: str
        local_variables: dict[str, dict[str, Any]]
        # The process variables the worker submitted (v2); None: not recorded on the task (v1).
        variables: dict[str, dict[str, Any]] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["variables"] = None

        def apply(self, task: ExternalTask) -> None:
            task.local_variables.update(self.local_variables)
            task.end_state = "completed"

    class Failed(Aggregate.Event):
        class_version = 2
        worker_id: str
        error_message: str | None
        error_details: str | None  # None keeps the previous details
        retries: int
        retry_timeout: int
        lock_expiration_time: datetime
        local_variables: dict[str, dict[str, Any]]
        variables: dict[str, dict[str, Any]] | None  # submitted process variables, as on Completed

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["variables"] = None

        def apply(self, task: ExternalTask) -> None:
            task.worker_id = self.worker_id
            task.error_message = self.error_message
            if self.error_details is not None:
                task.error_details = self.error_details
            task.retries = self.retries
            task.lock_expiration_time = self.lock_expiration_time
            task.local_variables.update(self.local_variables)

    class BpmnErrorThrown(Aggregate.Event):
        class_version = 1
        worker_id: str
        error_code: str
        error_message: str | None
        variables: dict[str, dict[str, Any]]

        def apply(self, task: ExternalTask) -> None:
            task.end_state = "bpmnError"
            task.incident_id = None

    class IncidentCreated(Aggregate.Event):
        class_version = 1
        incident_id: str
        incident_message: str | None

        def apply(self, task: ExternalTask) -> None:
            task.incident_id = self.incident_id
            task.incident_message = self.incident_message
            task.incident_time = self.timestamp
            task.incident_annotation = None

    class IncidentAnnotated(Aggregate.Event):
        class_version = 1
        incident_id: str
        annotation: str | None  # None clears it

        def apply(self, task: ExternalTask) -> None:
            task.incident_annotation = self.annotation

    class IncidentResolved(Aggregate.Event):
        class_version = 1
        incident_id: str

        def apply(self, task: ExternalTask) -> None:
            task.incident_id = None

    class RetriesSet(Aggregate.Event):
        class_version = 1
        retries: int

        def apply(self, task: ExternalTask) -> None:
            task.retries = self.retries

    class PrioritySet(Aggregate.Event):
        class_version = 1
        priority: int

        def apply(self, task: ExternalTask) -> None:
            task.priority = self.priority

    class Suspended(Aggregate.Event):
        class_version = 1

        def apply(self, task: ExternalTask) -> None:
            task.suspended = True

    class Activated(Aggregate.Event):
        class_version = 1

        def apply(self, task: ExternalTask) -> None:
            task.suspended = False

    class Deleted(Aggregate.Event):
        class_version = 1
        reason: str | None

        def apply(self, task: ExternalTask) -> None:
            task.end_state = "deleted"
            task.incident_id = None

    def __init__(
        self,
        topic_name: str,
        process_instance_id: str,
        process_definition_id: str | None,
        process_definition_key: str | None,
        process_definition_version_tag: str | None,
        activity_id: str | None,
        activity_instance_id: str | None,
        execution_id: str | None,
        business_key: str | None,
        tenant_id: str | None,
        priority: int,
        retries: int | None,
        suspended: bool,
        extension_properties: dict[str, str],
        local_variables: dict[str, dict[str, Any]],
    ) -> None:
        self.topic_name = topic_name
        self.process_instance_id = process_instance_id
        self.process_definition_id = process_definition_id
        self.process_definition_key = process_definition_key
        self.process_definition_version_tag = process_definition_version_tag
        self.activity_id = activity_id
        self.activity_instance_id = activity_instance_id
        self.execution_id = execution_id
        self.business_key = business_key
        self.tenant_id = tenant_id
        self.priority = priority
        self.retries = retries
        self.suspended = suspended
        self.extension_properties = dict(extension_properties)
        self.local_variables = dict(local_variables)
        self.worker_id: str | None = None
        self.lock_expiration_time: datetime | None = None
        self.error_message: str | None = None
        self.error_details: str | None = None
        self.incident_id: str | None = None
        self.incident_message: str | None = None
        self.incident_time: datetime | None = None
        self.incident_annotation: str | None = None
        # None while the task is at runtime; then "completed", "deleted" or "bpmnError".
        self.end_state: str | None = None

    # -- creation -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        now: datetime,
        topic_name: str,
        process_instance_id: str,
        task_id: UUID | None = None,
        process_definition_id: str | None = None,
        process_definition_key: str | None = None,
        process_definition_version_tag: str | None = None,
        activity_id: str | None = None,
        activity_instance_id: str | None = None,
        execution_id: str | None = None,
        business_key: str | None = None,
        tenant_id: str | None = None,
        priority: int = 0,
        retries: int | None = None,
        suspended: bool = False,
        extension_properties: dict[str, str] | None = None,
        local_variables: dict[str, dict[str, Any]] | None = None,
    ) -> ExternalTask:
        cls.check_creation_arguments(topic_name, priority, retries)
        task = cls._create(
            cls.Created,
            id=task_id or uuid4(),
            timestamp=now,
            topic_name=topic_name,
            process_instance_id=process_instance_id,
            process_definition_id=process_definition_id,
            process_definition_key=process_definition_key,
            process_definition_version_tag=process_definition_version_tag,
            activity_id=activity_id,
            activity_instance_id=activity_instance_id,
            execution_id=execution_id,
            business_key=business_key,
            tenant_id=tenant_id,
            priority=priority,
            retries=retries,
            suspended=suspended,
            extension_properties=dict(extension_properties or {}),
            local_variables=dict(local_variables or {}),
        )
        # Created with no retries left is a transition from "not failed yet" to 0: an incident.
        if retries is not None:
            task._manage_incident(None, retries, now)
        return task

    # -- queries on state -----------------------------------------------------------------------

    @property
    def create_time(self) -> datetime:
        return self.created_on

    @property
    def is_removed(self) -> bool:
        return self.end_state is not None

    def is_locked(self, now: datetime) -> bool:
        """Locked for lock/extendLock: an expiry equal to now still counts as locked."""
        return self.lock_expiration_time is not None and now <= self.lock_expiration_time

    def is_fetchable(self, now: datetime) -> bool:
        """The fetch predicate; note fetch treats an expiry equal to now as available."""
        return (
            not self.is_removed
            and not self.suspended
            and (self.lock_expiration_time is None or self.lock_expiration_time <= now)
            and (self.retries is None or self.retries > 0)
        )

    # -- argument checks, usable before the task is loaded --------------------------------------

    @staticmethod
    def check_lock_arguments(worker_id: str | None, lock_duration: int) -> None:
        if lock_duration is None or lock_duration <= 0:
            raise InvalidArgument("lockDuration is not greater than 0", "RestException")
        ensure_not_null("workerId", worker_id)

    @staticmethod
    def check_extend_lock_arguments(worker_id: str | None, new_duration: int) -> None:
        if new_duration is None or new_duration <= 0:
            raise InvalidArgument("lockTime is not greater than 0", "RestException")
        ensure_not_null("workerId", worker_id)

    @staticmethod
    def check_failure_arguments(worker_id: str | None, retries: int, retry_timeout: int) -> None:
        ensure_not_null("workerId", worker_id)
        ensure_not_negative("retries", retries)
        ensure_java_int("retries", retries)
        ensure_not_negative("retryDuration", retry_timeout)

    @staticmethod
    def check_creation_arguments(topic_name: str | None, priority: int, retries: int | None) -> None:
        if not topic_name:
            raise InvalidArgument("topicName is null", "NullValueException")
        ExternalTask.check_priority(priority)
        if retries is not None:
            ensure_not_negative("retries", retries)
            ensure_java_int("retries", retries)

    @staticmethod
    def check_priority(priority: int) -> None:
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidArgument("Priority value is not an Integer")
        ensure_java_long("priority", priority)

    @staticmethod
    def check_bpmn_error_arguments(worker_id: str | None, error_code: str | None) -> None:
        ensure_not_null("workerId", worker_id)
        ensure_not_null("errorCode", error_code)

    @staticmethod
    def check_retries(retries: int | None) -> None:
        if retries is None or retries < 0:
            raise InvalidArgument(
                "The number of retries cannot be negative: retries is not greater than or equal to 0",
                "BadUserRequestException",
            )
        ensure_java_int("retries", retries)

    # -- commands -------------------------------------------------------------------------------

    def lock(self, worker_id: str, lock_duration: int, now: datetime) -> None:
        """Explicit lock: refused only while another worker holds an unexpired lock."""
        self.check_lock_arguments(worker_id, lock_duration)
        self._ensure_at_runtime()
        if self.is_locked(now) and self.worker_id != worker_id:
            raise LockedByOtherWorker(
                f"External Task {self.id} cannot be locked by worker '{worker_id}'. "
                f"It is locked by worker '{self.worker_id}'."
            )
        self._lock(worker_id, lock_duration, now)

    def fetch_lock(self, worker_id: str, lock_duration: int, now: datetime) -> None:
        """Lock as fetch-and-lock does: only a fetchable task, overwriting an expired lock."""
        ensure_not_null("workerId", worker_id)
        ensure_positive("lockTime", lock_duration)
        if not self.is_fetchable(now):
            raise LockedByOtherWorker(f"External Task {self.id} is not available for fetching.")
        self._lock(worker_id, lock_duration, now)

    def _lock(self, worker_id: str, lock_duration: int, now: datetime) -> None:
        self.trigger_event(
            self.Locked,
            timestamp=now,
            worker_id=worker_id,
            lock_expiration_time=expiration(now, lock_duration, "lockDuration"),
        )

    def extend_lock(self, worker_id: str, new_duration: int, now: datetime) -> None:
        self.check_extend_lock_arguments(worker_id, new_duration)
        self._ensure_at_runtime()
        self._ensure_held_by(
            worker_id,
            f"The lock of the External Task {self.id} cannot be extended by worker '{worker_id}''.",
        )
        if not self.is_locked(now):
            raise LockExpired(
                "Cannot extend a lock that expired: lockExpirationTime is not greater than or "
                f"equal to {epoch_millis(now)}"
            )
        self._ensure_active()
        self.trigger_event(
            self.LockExtended,
            timestamp=now,
            lock_expiration_time=expiration(now, new_duration, "newDuration"),
        )

    def unlock(self, now: datetime) -> None:
        self._ensure_at_runtime()
        self.trigger_event(self.Unlocked, timestamp=now)

    def complete(
        self,
        worker_id: str,
        now: datetime,
        local_variables: dict[str, dict[str, Any]] | None = None,
        variables: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Finish the task; ``variables`` are the process variables submitted with it, recorded here
        for the audit trail (the process instance applies them)."""
        ensure_not_null("workerId", worker_id)
        self._ensure_at_runtime()
        self._ensure_held_by(
            worker_id, f"External Task {self.id} cannot be completed by worker '{worker_id}'."
        )
        self._ensure_active()
        if self.incident_id is not None:
            self.trigger_event(self.IncidentResolved, timestamp=now, incident_id=self.incident_id)
        self.trigger_event(
            self.Completed,
            timestamp=now,
            worker_id=worker_id,
            local_variables=dict(local_variables or {}),
            variables=dict(variables or {}),
        )

    def handle_failure(
        self,
        worker_id: str,
        now: datetime,
        *,
        error_message: str | None = None,
        error_details: str | None = None,
        retries: int = 0,
        retry_timeout: int = 0,
        local_variables: dict[str, dict[str, Any]] | None = None,
        variables: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Report a failure; ``variables`` as on ``complete``."""
        self.check_failure_arguments(worker_id, retries, retry_timeout)
        self._ensure_at_runtime()
        self._ensure_held_by(
            worker_id,
            f"Failure of External Task {self.id} cannot be reported by worker '{worker_id}'.",
        )
        self._ensure_active()
        retries_before = self.retries
        lock_expiration_time = expiration(now, retry_timeout, "retryTimeout")
        if error_message is not None:
            error_message = error_message[:ERROR_MESSAGE_MAX_LENGTH]
        self.trigger_event(
            self.Failed,
            timestamp=now,
            worker_id=worker_id,
            error_message=error_message,
            error_details=error_details,
            retries=retries,
            retry_timeout=retry_timeout,
            lock_expiration_time=lock_expiration_time,
            local_variables=dict(local_variables or {}),
            variables=dict(variables or {}),
        )
        self._manage_incident(retries_before, retries, now)

    def handle_bpmn_error(
        self,
        worker_id: str,
        error_code: str,
        now: datetime,
        *,
        error_message: str | None = None,
        variables: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.check_bpmn_error_arguments(worker_id, error_code)
        self._ensure_at_runtime()
        self._ensure_held_by(
            worker_id,
            f"Bpmn error of External Task {self.id} cannot be reported by worker '{worker_id}'.",
        )
        self._ensure_active()
        self.trigger_event(
            self.BpmnErrorThrown,
            timestamp=now,
            worker_id=worker_id,
            error_code=error_code,
            error_message=error_message,
            variables=dict(variables or {}),
        )

    def set_retries(self, retries: int, now: datetime) -> None:
        self.check_retries(retries)
        self._ensure_at_runtime()
        retries_before = self.retries
        self.trigger_event(self.RetriesSet, timestamp=now, retries=retries)
        self._manage_incident(retries_before, retries, now)

    def set_priority(self, priority: int, now: datetime) -> None:
        ensure_not_null("priority", priority)
        self.check_priority(priority)
        self._ensure_at_runtime()
        self.trigger_event(self.PrioritySet, timestamp=now, priority=priority)

    def annotate_incident(self, incident_id: str, annotation: str | None, now: datetime) -> None:
        """Note something on the open incident for operators; None clears the note."""
        self._ensure_at_runtime()
        if self.incident_id is None or self.incident_id != incident_id:
            raise NoOpenIncident(f"Cannot find an incident with id '{incident_id}': incident is null")
        self.trigger_event(self.IncidentAnnotated, timestamp=now, incident_id=incident_id, annotation=annotation)

    def suspend(self, now: datetime) -> None:
        self._ensure_at_runtime()
        if not self.suspended:
            self.trigger_event(self.Suspended, timestamp=now)

    def activate(self, now: datetime) -> None:
        self._ensure_at_runtime()
        if self.suspended:
            self.trigger_event(self.Activated, timestamp=now)

    def delete(self, now: datetime, reason: str | None = None) -> None:
        """Remove the task without completing it (its process instance was deleted)."""
        if not self.is_removed:
            self.trigger_event(self.Deleted, timestamp=now, reason=reason)

    # -- rules shared by the commands -----------------------------------------------------------

    def _manage_incident(self, retries_before: int | None, retries: int, now: datetime) -> None:
        had_retries_left = retries_before is None or retries_before > 0
        if had_retries_left and retries <= 0:
            self.trigger_event(
                self.IncidentCreated,
                timestamp=now,
                # Derived from the task and its version, so replays reproduce the same id.
                incident_id=str(uuid5(self.id, f"incident/{self.version + 1}")),
                incident_message=self.error_message,
            )
        elif not had_retries_left and retries > 0 and self.incident_id is not None:
            self.trigger_event(self.IncidentResolved, timestamp=now, incident_id=self.incident_id)

    def _ensure_at_runtime(self) -> None:
        if self.is_removed:
            raise TaskRemoved(f"External task with id {self.id} does not exist")

    def _ensure_held_by(self, worker_id: str, refusal: str) -> None:
        if self.worker_id != worker_id:
            worker = "null" if self.worker_id is None else self.worker_id
            raise LockedByOtherWorker(f"{refusal} It is locked by worker '{worker}'.")

    def _ensure_active(self) -> None:
        if self.suspended:
            raise TaskSuspended(f"ENGINE-03043 ExternalTask with id '{self.id}' is suspended.")
