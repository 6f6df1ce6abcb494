"""The ProcessInstance aggregate on its own (no database): the variable scope and grouping of tasks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid5

import pytest

from extask.domain.process_instance import PROCESS_INSTANCE_NAMESPACE, ProcessInstance, ProcessInstanceDeleted

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
LATER = NOW + timedelta(seconds=1)


def var(value, type_name="String"):
    return {"type": type_name, "value": value, "valueInfo": {}}


def names(instance: ProcessInstance) -> list[str]:
    return [type(event).__name__ for event in instance.collect_events()]


def started(**fields) -> ProcessInstance:
    fields.setdefault("process_instance_id", "pi-1")
    instance = ProcessInstance.start(now=NOW, **fields)
    instance.collect_events()
    return instance


def deleted() -> ProcessInstance:
    instance = started()
    instance.delete(NOW, "cancelled")
    instance.collect_events()
    return instance


class TestStart:
    def test_started_carries_the_instance_attributes(self):
        """Started records business key, definition, tenant and the initial variables."""
        instance = ProcessInstance.start(
            now=NOW, process_instance_id="pi-7", business_key="bk", process_definition_id="def:1:1",
            process_definition_key="def", tenant_id="t1", variables={"a": var("x")},
        )

        [event] = instance.collect_events()
        assert type(event).__name__ == "Started"
        assert (event.process_instance_id, event.business_key, event.tenant_id) == ("pi-7", "bk", "t1")
        assert instance.variables == {"a": var("x")}
        assert (instance.process_definition_id, instance.process_definition_key) == ("def:1:1", "def")
        assert instance.suspended is False and instance.deleted is False

    def test_the_aggregate_id_derives_from_the_process_instance_id(self):
        """The same caller id always maps to the same aggregate id, so no lookup table is needed."""
        instance = started(process_instance_id="order-17")

        assert instance.id == ProcessInstance.aggregate_id("order-17")
        assert instance.id == uuid5(PROCESS_INSTANCE_NAMESPACE, "order-17")
        assert ProcessInstance.aggregate_id("order-18") != instance.id

    def test_no_variables(self):
        """Without variables the scope starts empty."""
        assert started().variables == {}


class TestVariables:
    def test_set_variables_adds_and_replaces(self):
        """VariablesSet adds new variables and replaces existing ones, keeping the rest."""
        instance = started(variables={"a": var("1"), "b": var("2")})

        instance.set_variables(LATER, {"b": var("two"), "c": var(3, "Integer")})

        [event] = instance.collect_events()
        assert type(event).__name__ == "VariablesSet"
        assert (event.modifications, event.deletions) == ({"b": var("two"), "c": var(3, "Integer")}, [])
        assert instance.variables == {"a": var("1"), "b": var("two"), "c": var(3, "Integer")}

    def test_deletions_apply_before_modifications(self):
        """A name both deleted and modified in one change ends up with the new value."""
        instance = started(variables={"a": var("1"), "b": var("2")})

        instance.set_variables(LATER, {"a": var("new")}, ["a", "b", "unknown"])

        assert instance.variables == {"a": var("new")}

    def test_nothing_to_change_emits_nothing(self):
        """No modifications and no deletions: no event."""
        instance = started()
        instance.set_variables(LATER, {}, [])
        instance.set_variables(LATER)
        assert instance.collect_events() == []


class TestSuspension:
    def test_suspend_and_activate_emit_only_on_change(self):
        """Suspended and Activated are emitted once per real change."""
        instance = started()

        instance.suspend(NOW)
        instance.suspend(LATER)
        assert names(instance) == ["Suspended"] and instance.suspended

        instance.activate(NOW)
        instance.activate(LATER)
        assert names(instance) == ["Activated"] and not instance.suspended

    def test_activating_an_active_instance_emits_nothing(self):
        """Activation of an active instance is a no-op."""
        instance = started()
        instance.activate(NOW)
        assert instance.collect_events() == []


class TestDeletion:
    def test_delete(self):
        """Deleted carries the reason and marks the instance deleted."""
        instance = started()

        instance.delete(LATER, "cancelled")

        [event] = instance.collect_events()
        assert (type(event).__name__, event.reason) == ("Deleted", "cancelled")
        assert instance.deleted

    def test_delete_a_suspended_instance(self):
        """A suspended instance can be deleted."""
        instance = started()
        instance.suspend(NOW)
        instance.collect_events()
        instance.delete(LATER)
        assert names(instance) == ["Deleted"]

    @pytest.mark.parametrize(
        "command",
        [
            lambda i: i.set_variables(LATER, {"a": var("x")}),
            lambda i: i.set_variables(LATER),
            lambda i: i.suspend(LATER),
            lambda i: i.activate(LATER),
            lambda i: i.delete(LATER),
        ],
        ids=["set_variables", "set_nothing", "suspend", "activate", "delete"],
    )
    def test_a_deleted_instance_refuses_every_command(self, command):
        """After deletion every command is refused and nothing is emitted."""
        instance = deleted()

        with pytest.raises(ProcessInstanceDeleted) as info:
            command(instance)

        assert info.value.message == "Process instance pi-1 has been deleted"
        assert info.value.camunda_type == "BadUserRequestException"
        assert instance.collect_events() == []


def test_replaying_the_events_rebuilds_the_same_instance():
    """The state is the fold of the events."""
    instance = ProcessInstance.start(now=NOW, process_instance_id="pi", variables={"a": var("1")})
    instance.set_variables(LATER, {"b": var("2")}, ["a"])
    instance.suspend(LATER)
    instance.activate(LATER)
    instance.delete(LATER, "done")

    rebuilt = None
    for event in instance.collect_events():
        rebuilt = event.mutate(rebuilt)

    assert rebuilt.__dict__ == instance.__dict__
