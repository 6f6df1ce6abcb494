"""Incident annotations: an operator's note on an open incident, kept as an event of its task."""

from __future__ import annotations

import pytest


@pytest.fixture
def incident(api):
    task = api.post("/external-task/create", json={"topicName": "annotated"}).json()
    api.post("/external-task/fetchAndLock", json={
        "workerId": "w", "maxTasks": 1, "topics": [{"topicName": "annotated", "lockDuration": 10_000}]})
    api.post(f"/external-task/{task['id']}/failure", json={"workerId": "w", "errorMessage": "down", "retries": 0})
    [found] = api.get(f"/incident?configuration={task['id']}").json()
    return found


class TestAnnotatingAnIncident:
    def test_put_sets_the_annotation_on_the_runtime_and_historic_incident(self, api, incident):
        response = api.put(f"/incident/{incident['id']}/annotation", json={"annotation": "waiting for the vendor"})

        assert response.status_code == 204 and response.content == b""
        assert api.get(f"/incident/{incident['id']}").json()["annotation"] == "waiting for the vendor"
        [historic] = api.get(f"/history/incident?incidentId={incident['id']}").json()
        assert historic["annotation"] == "waiting for the vendor"

    def test_delete_clears_it(self, api, incident):
        api.put(f"/incident/{incident['id']}/annotation", json={"annotation": "note"})

        assert api.delete(f"/incident/{incident['id']}/annotation").status_code == 204
        assert api.get(f"/incident/{incident['id']}").json()["annotation"] is None

    def test_an_unknown_incident_is_a_404(self, api):
        response = api.put("/incident/no-such-incident/annotation", json={"annotation": "x"})

        assert response.status_code == 404
        assert response.json()["message"] == "Cannot find an incident with id 'no-such-incident': incident is null"
