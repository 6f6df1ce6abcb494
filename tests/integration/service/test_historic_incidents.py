"""The incident history (spec 1.5, 3.7): every failedExternalTask incident a task had, open until it
is resolved (retries raised, task completed) or deleted (task removed), with Camunda's
HistoricIncident fields, filters and sort keys."""

from __future__ import annotations

from datetime import timedelta

import pytest

from extask.application.errors import BadRequest
from extask.application.queries import HISTORIC_INCIDENT_SORT_KEYS, HistoricIncidentQuery, Page

from .helpers import WORKER_ID, create_task, failure_logs_newest_first, fetch, incidents, raises


def historic(service, **criteria):
    return service.query_historic_incidents(HistoricIncidentQuery(**criteria))


def count(service, **criteria):
    return service.count_historic_incidents(HistoricIncidentQuery(**criteria))


def fail(service, task, retries=0, message="boom", worker=WORKER_ID):
    fetch(service, worker, task.topic_name, max_tasks=100)
    service.handle_failure(task.id, worker, error_message=message, retries=retries)


@pytest.fixture
def failed(service, clock):
    """A task of process 'invoice' (tenant t1) that failed without retries: one open incident."""
    task = create_task(
        service, topic="charge", process_definition_key="invoice", process_definition_id="invoice:1:1",
        activity_id="chargeCard", tenant_id="t1",
    )
    clock.advance(seconds=1)
    fail(service, task)
    return task


class TestLifecycle:
    def test_an_open_incident_has_every_field(self, service, clock, failed):
        [runtime] = incidents(service)
        [incident] = historic(service)

        assert incident.id == runtime.id
        assert incident.incident_type == "failedExternalTask"
        assert incident.incident_message == "boom"
        assert incident.configuration == failed.id
        assert incident.history_configuration == failure_logs_newest_first(service, failed.id)[0].id
        assert incident.create_time == clock.now == runtime.incident_timestamp
        assert incident.end_time is None
        assert (incident.open, incident.resolved, incident.deleted) == (True, False, False)
        assert incident.process_instance_id == incident.root_process_instance_id == failed.process_instance_id
        assert incident.process_definition_id == "invoice:1:1"
        assert incident.process_definition_key == "invoice"
        assert incident.execution_id == failed.execution_id
        assert incident.activity_id == "chargeCard"
        assert incident.tenant_id == "t1"
        assert incident.cause_incident_id == incident.root_cause_incident_id == incident.id
        assert incident.failed_activity_id is None
        assert incident.job_definition_id is None
        assert incident.annotation is None
        assert incident.removal_time is None

    def test_raising_the_retries_resolves_it(self, service, clock, failed):
        clock.advance(seconds=2)
        service.set_retries(failed.id, 3)

        [incident] = historic(service)

        assert (incident.open, incident.resolved, incident.deleted) == (False, True, False)
        assert incident.end_time == clock.now
        assert incidents(service) == []

    def test_completing_the_task_resolves_it(self, service, failed):
        service.complete(failed.id, WORKER_ID)
        assert [i.resolved for i in historic(service)] == [True]

    def test_deleting_the_process_instance_deletes_it(self, service, clock, failed):
        clock.advance(seconds=2)
        service.delete_process_instance(failed.process_instance_id)

        [incident] = historic(service)

        assert (incident.open, incident.resolved, incident.deleted) == (False, False, True)
        assert incident.end_time == clock.now

    def test_a_bpmn_error_deletes_it(self, service, failed):
        service.handle_bpmn_error(failed.id, WORKER_ID, "E1")
        assert [i.deleted for i in historic(service)] == [True]

    def test_each_incident_of_a_task_is_kept(self, service, clock, failed):
        service.set_retries(failed.id, 1)
        clock.advance(seconds=60)
        fail(service, failed, message="again")

        first, second = historic(service, sorting=[("createTime", "asc")])

        assert (first.resolved, second.open) == (True, True)
        assert (first.incident_message, second.incident_message) == ("boom", "again")
        assert second.history_configuration == failure_logs_newest_first(service, failed.id)[0].id

    def test_set_retries_zero_before_any_failure_has_no_history_configuration(self, service):
        task = create_task(service)
        service.set_retries(task.id, 0)

        [incident] = historic(service)

        assert incident.history_configuration is None
        assert incident.incident_message is None


class TestFilters:
    @pytest.fixture
    def three_states(self, service, clock, failed):
        """Incidents of three tasks: resolved (failed), deleted (pi-gone), open (mail)."""
        service.set_retries(failed.id, 1)
        gone = create_task(service, process_instance_id="pi-gone")
        fail(service, gone)
        service.delete_process_instance("pi-gone")
        clock.advance(seconds=10)
        mail = create_task(service, topic="mail", activity_id="send")
        fail(service, mail, message="smtp down")
        return failed, gone, mail

    @pytest.mark.parametrize(
        "criteria, expected",
        [
            ({}, {"failed", "gone", "mail"}),
            ({"open": True}, {"mail"}),
            ({"resolved": True}, {"failed"}),
            ({"deleted": True}, {"gone"}),
            ({"open": True, "deleted": True}, {"gone"}),  # the last one set wins
            ({"open": True, "resolved": True}, {"failed"}),
            ({"incident_type": "failedExternalTask"}, {"failed", "gone", "mail"}),
            ({"incident_type": "failedJob"}, set()),
            ({"incident_message": "smtp down"}, {"mail"}),
            ({"incident_message_like": "smtp%"}, {"mail"}),
            ({"process_definition_id": "invoice:1:1"}, {"failed"}),
            ({"process_definition_key": "invoice"}, {"failed"}),
            ({"process_definition_key_in": ["invoice", "nope"]}, {"failed"}),
            ({"process_instance_id": "pi-gone"}, {"gone"}),
            ({"activity_id": "send"}, {"mail"}),
            ({"tenant_id_in": ["t1"]}, {"failed"}),
            ({"without_tenant_id": True}, {"gone", "mail"}),
            ({"failed_activity_id": "chargeCard"}, set()),
            ({"job_definition_id_in": ["j"]}, set()),
        ],
    )
    def test_by_criteria(self, service, three_states, criteria, expected):
        names = {task.id: name for task, name in zip(three_states, ("failed", "gone", "mail"))}
        found = historic(service, **criteria)
        assert {names[i.configuration] for i in found} == expected
        assert count(service, **criteria) == len(expected)

    def test_by_ids(self, service, three_states):
        failed, _, mail = three_states
        [incident] = historic(service, configuration=mail.id)
        for criteria in (
            {"incident_id": incident.id}, {"cause_incident_id": incident.id},
            {"root_cause_incident_id": incident.id}, {"execution_id": mail.execution_id},
            {"history_configuration": incident.history_configuration},
        ):
            assert historic(service, **criteria) == [incident], criteria

    def test_by_times(self, service, clock, three_states):
        _, _, mail = three_states
        [late] = historic(service, configuration=mail.id)
        at = late.create_time

        assert {i.configuration for i in historic(service, create_time_after=at)} == {mail.id}
        assert count(service, create_time_before=at) == 3  # inclusive
        assert count(service, create_time_before=at - timedelta(milliseconds=1)) == 2
        assert count(service, end_time_after=at - timedelta(seconds=10)) == 2  # the open one has none
        assert count(service, end_time_before=at - timedelta(seconds=11)) == 0


SORT_ATTRIBUTES = {
    "incidentId": "id", "incidentMessage": "incident_message", "createTime": "create_time",
    "executionId": "execution_id", "activityId": "activity_id", "processInstanceId": "process_instance_id",
    "causeIncidentId": "id", "rootCauseIncidentId": "id", "configuration": "configuration",
    "historyConfiguration": "history_configuration", "tenantId": "tenant_id",
}  # the other keys have the same value for every incident here


class TestSortingAndPaging:
    @pytest.mark.parametrize("key", HISTORIC_INCIDENT_SORT_KEYS)
    @pytest.mark.parametrize("order", ["asc", "desc"])
    def test_every_sort_key(self, service, clock, key, order):
        for index in range(3):
            task = create_task(service, topic=f"t{index}", tenant_id=f"tenant{index}", activity_id=f"a{index}")
            clock.advance(seconds=1)
            fail(service, task, message=f"m{index}")

        found = historic(service, sorting=[(key, order)])

        assert len(found) == 3
        attribute = SORT_ATTRIBUTES.get(key)
        if attribute is not None:
            values = [getattr(i, attribute) for i in found]
            assert values == sorted(values, reverse=order == "desc")

    def test_by_state_in_camundas_order(self, service, failed):
        service.set_retries(failed.id, 1)  # resolved
        gone = create_task(service, process_instance_id="pi-gone")
        fail(service, gone)
        service.delete_process_instance("pi-gone")  # deleted
        fail(service, create_task(service, topic="mail"))  # open

        found = historic(service, sorting=[("incidentState", "asc")])

        assert [(i.open, i.resolved, i.deleted) for i in found] == [
            (True, False, False), (False, True, False), (False, False, True),
        ]

    def test_by_create_time_and_paging(self, service, clock):
        tasks = []
        for _ in range(4):
            tasks.append(create_task(service))
            clock.advance(seconds=1)
            fail(service, tasks[-1])

        found = service.query_historic_incidents(HistoricIncidentQuery(sorting=[("createTime", "desc")]), Page(1, 2))

        assert [i.configuration for i in found] == [tasks[2].id, tasks[1].id]

    def test_an_unknown_sort_key(self, service):
        with raises(BadRequest, "Cannot set query parameter 'sortBy' to value 'color'"):
            historic(service, sorting=[("color", "asc")])
