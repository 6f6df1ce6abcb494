"""The event-sourcing application that stores both aggregates.

It is the library's ``Application`` with one addition: the aggregates of each save travel with
their events to the recorder, which writes the runtime read model in the same transaction.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import Recording


class ExternalTaskEventStore(Application[UUID]):
    name = "extask"

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        processing_event.saved_kwargs.setdefault(
            "aggregates", list(processing_event.aggregates.values())
        )
        return super()._record(processing_event)
