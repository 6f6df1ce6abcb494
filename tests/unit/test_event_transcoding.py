"""Events are encoded with orjson, byte for byte as the library's own JSON transcoder encodes them,
so stored events read back the same whichever wrote them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from eventsourcing.persistence import JSONTranscoder

from extask.application.event_store import ExternalTaskEventStore
from extask.domain.batch import Batch
from extask.domain.external_task import ExternalTask
from extask.domain.process_instance import ProcessInstance
from tests.unit.test_event_versioning import domain_aggregates, event_classes

NOW = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
VARIABLE = {"type": "String", "value": "Grüße ✓", "valueInfo": {}}


@pytest.fixture(scope="module")
def event_store():
    return ExternalTaskEventStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture(scope="module")
def library_transcoder(event_store):
    transcoder = JSONTranscoder()
    event_store.register_transcodings(transcoder)
    return transcoder


def a_life_of_every_kind():
    """Events of every aggregate, carrying variables, errors, incidents and times."""
    task = ExternalTask.create(
        now=NOW, topic_name="t", process_instance_id="pi", priority=2**62, local_variables={"v": VARIABLE},
        extension_properties={"k": "v"},
    )
    task.fetch_lock("w", 1_000, NOW)
    task.handle_failure("w", NOW, error_message="boom", error_details="Traceback ...", retries=0)
    task.annotate_incident(task.incident_id, "looked at", NOW)
    task.set_retries(1, NOW)
    task.fetch_lock("w", 1_000, NOW)
    task.complete("w", NOW, {"local": VARIABLE}, variables={"out": {"type": "Double", "value": 2.5, "valueInfo": {}}})
    instance = ProcessInstance.start(now=NOW, process_instance_id="pi", variables={"v": VARIABLE})
    instance.set_variables(NOW, {"n": {"type": "Long", "value": 2**63 - 1, "valueInfo": {}}}, ["v"])
    batch = Batch.set_external_task_retries(now=NOW, batch_id=UUID(int=1), retries=3, external_task_ids=[str(task.id)])
    batch.start(NOW)
    batch.record_success(str(task.id), NOW)
    batch.record_failure("other", "NotFoundException", "gone", NOW)
    batch.complete(NOW)
    return [*task.collect_events(), *instance.collect_events(), *batch.collect_events()]


def test_every_event_encodes_as_the_library_encodes_it(event_store, library_transcoder):
    for event in a_life_of_every_kind():
        state = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
        assert event_store.mapper.transcoder.encode(state) == library_transcoder.encode(state), type(event).__name__


@pytest.mark.parametrize(
    "value",
    [2**70, Decimal("1.50"), {1: "a key that is no string"}, "ünïcödé", 1e16, -0.0],
    ids=["beyond 64 bits", "decimal", "int key", "unicode", "large float", "negative zero"],
)
def test_values_orjson_treats_otherwise_are_encoded_as_the_library_does(event_store, library_transcoder, value):
    state = {"timestamp": NOW, "value": value}
    assert event_store.mapper.transcoder.encode(state) == library_transcoder.encode(state)


def test_no_event_carries_a_uuid(event_store):
    """orjson would write a UUID as a plain string, which would read back as a string."""
    for aggregate in domain_aggregates():
        for event_class in event_classes(aggregate):
            # The fields the domain declares; the library's own (the aggregate's id among them)
            # are stored beside the state, not in it.
            for field, hint in vars(event_class).get("__annotations__", {}).items():
                assert "UUID" not in str(hint), f"{aggregate.__name__}.{event_class.__name__}.{field}: {hint}"
