"""The topics events were stored under before extask's packages moved under the ``extask`` root.

A stored event names its class by topic, ``module:qualname``. Databases written before the move
hold topics such as ``domain.external_task:ExternalTask.Locked``; registering each of them for
today's class lets those databases load, replay and verify as before, while new events are stored
under today's topics. Only exact topics are registered, never the bare ``domain`` package, so an
embedding application's own ``domain`` package keeps resolving its own topics.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, register_topic

from extask.domain.batch import Batch
from extask.domain.external_task import ExternalTask
from extask.domain.process_instance import ProcessInstance

ROOT = "extask."
AGGREGATES: tuple[type[Aggregate], ...] = (ExternalTask, ProcessInstance, Batch)


def former_topic(cls: type) -> str:
    """The topic ``cls`` was stored under before the move."""
    return get_topic(cls).removeprefix(ROOT)


def register_former_topics() -> None:
    """Let the former topic of every aggregate and event class resolve to that class (idempotent)."""
    for aggregate in AGGREGATES:
        events = [c for c in vars(aggregate).values() if isinstance(c, type) and issubclass(c, Aggregate.Event)]
        for cls in (aggregate, *events):
            register_topic(former_topic(cls), cls)
