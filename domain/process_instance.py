"""The ProcessInstance aggregate: the variable scope and grouping of external tasks.

extask has no BPMN engine, so a process instance is only what tasks share: a business key, a
definition, a tenant, process variables, and a suspension state. Its aggregate id is derived from
the caller's process instance id, so "the instance with id X" needs no lookup table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from extask.domain.errors import DomainError

PROCESS_INSTANCE_NAMESPACE = UUID("6f1c1e7e-4a44-4d0b-9a53-0b4f6c2f6b1e")


class ProcessInstanceDeleted(DomainError):
    camunda_type = "BadUserRequestException"


class ProcessInstance(Aggregate):
    class Started(Aggregate.Created):
        class_version = 1
        process_instance_id: str
        business_key: str | None
        process_definition_id: str | None
        process_definition_key: str | None
        tenant_id: str | None
        variables: dict[str, dict[str, Any]]

    class VariablesSet(Aggregate.Event):
        class_version = 1
        modifications: dict[str, dict[str, Any]]
        deletions: list[str]

        def apply(self, instance: ProcessInstance) -> None:
            for name in self.deletions:
                instance.variables.pop(name, None)
            instance.variables.update(self.modifications)

    class Suspended(Aggregate.Event):
        class_version = 1

        def apply(self, instance: ProcessInstance) -> None:
            instance.suspended = True

    class Activated(Aggregate.Event):
        class_version = 1

        def apply(self, instance: ProcessInstance) -> None:
            instance.suspended = False

    class Deleted(Aggregate.Event):
        class_version = 1
        reason: str | None

        def apply(self, instance: ProcessInstance) -> None:
            instance.deleted = True

    def __init__(
        self,
        process_instance_id: str,
        business_key: str | None,
        process_definition_id: str | None,
        process_definition_key: str | None,
        tenant_id: str | None,
        variables: dict[str, dict[str, Any]],
    ) -> None:
        self.process_instance_id = process_instance_id
        self.business_key = business_key
        self.process_definition_id = process_definition_id
        self.process_definition_key = process_definition_key
        self.tenant_id = tenant_id
        self.variables = dict(variables)
        self.suspended = False
        self.deleted = False

    @staticmethod
    def aggregate_id(process_instance_id: str) -> UUID:
        return uuid5(PROCESS_INSTANCE_NAMESPACE, process_instance_id)

    @classmethod
    def start(
        cls,
        *,
        now: datetime,
        process_instance_id: str,
        business_key: str | None = None,
        process_definition_id: str | None = None,
        process_definition_key: str | None = None,
        tenant_id: str | None = None,
        variables: dict[str, dict[str, Any]] | None = None,
    ) -> ProcessInstance:
        return cls._create(
            cls.Started,
            id=cls.aggregate_id(process_instance_id),
            timestamp=now,
            process_instance_id=process_instance_id,
            business_key=business_key,
            process_definition_id=process_definition_id,
            process_definition_key=process_definition_key,
            tenant_id=tenant_id,
            variables=dict(variables or {}),
        )

    def set_variables(
        self,
        now: datetime,
        modifications: dict[str, dict[str, Any]] | None = None,
        deletions: list[str] | None = None,
    ) -> None:
        self.ensure_not_deleted()
        if modifications or deletions:
            self.trigger_event(
                self.VariablesSet,
                timestamp=now,
                modifications=dict(modifications or {}),
                deletions=list(deletions or []),
            )

    def suspend(self, now: datetime) -> None:
        self.ensure_not_deleted()
        if not self.suspended:
            self.trigger_event(self.Suspended, timestamp=now)

    def activate(self, now: datetime) -> None:
        self.ensure_not_deleted()
        if self.suspended:
            self.trigger_event(self.Activated, timestamp=now)

    def delete(self, now: datetime, reason: str | None = None) -> None:
        self.ensure_not_deleted()
        self.trigger_event(self.Deleted, timestamp=now, reason=reason)

    def ensure_not_deleted(self) -> None:
        if self.deleted:
            raise ProcessInstanceDeleted(
                f"Process instance {self.process_instance_id} has been deleted"
            )
