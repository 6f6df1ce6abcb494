"""Response and parameter models of a task's audit trail (``/history/external-task/{id}/...``).

An event is ``{type, aggregateVersion, schemaVersion, timestamp, data}``; ``data`` holds the
event's own fields with camelCase names, dates in Camunda's format, and variable maps exactly as
stored (``name -> {type, value, valueInfo}``). ``extask history --json`` prints the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field
from pydantic.alias_generators import to_camel

from extask.application.audit import TaskEventDTO
from extask.infrastructure.rest import wire
from extask.infrastructure.rest.schemas import CamundaDate, RequestModel, RequiredQueryDate, ResponseModel


class TaskEvent(ResponseModel):
    """One stored event of an external task."""

    type: str = Field(description="The event's name: Created, Locked, Failed, IncidentCreated, Completed, ...")
    aggregate_version: int = Field(description="Its position in the task's sequence of events, from 1")
    schema_version: int = Field(description="The version of the event's schema (its class_version)")
    timestamp: CamundaDate
    data: dict[str, Any] = Field(
        description="The event's own fields, camelCase; dates in Camunda's format; variables as stored, "
        "name -> {type, value, valueInfo}"
    )

    @classmethod
    def from_dto(cls, event: TaskEventDTO) -> TaskEvent:
        return cls(
            type=event.type,
            aggregate_version=event.aggregate_version,
            schema_version=event.schema_version,
            timestamp=event.timestamp,
            data={to_camel(name): _wire_value(value) for name, value in event.data.items()},
        )

    def to_wire(self) -> dict[str, Any]:
        """The JSON object the REST API answers."""
        return self.model_dump(mode="json", by_alias=True)


def _wire_value(value: Any) -> Any:
    # Only the top-level field names are renamed: keys inside values are data (variable names).
    if isinstance(value, datetime):
        return wire.format_date(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _wire_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire_value(item) for item in value]
    return value


class StateAtParams(RequestModel):
    at: RequiredQueryDate = Field(
        description="The moment, a Camunda date such as 2025-01-02T03:04:05.678+0000; "
        "events up to and including this millisecond count"
    )
