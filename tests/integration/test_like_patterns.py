"""LIKE patterns mean the same on SQLite and PostgreSQL (issue 23, point 7), wherever a query
takes one: ``incidentMessageLike`` of the incident and historic incident queries, a ``like``
condition on a process variable, and the ``processDefinitionVersionTag`` of a fetched topic.

The rules, those of Camunda on its usual databases: case-sensitive; ``%`` any run of characters
and ``_`` any one; ``\\`` escapes the next character; a pattern ending in a lone ``\\`` ends in a
literal backslash (PostgreSQL refused such a pattern with a 500); the characters GLOB would read
as wildcards (``*``, ``?``, ``[``) stand for themselves.
"""

from __future__ import annotations

import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.application.queries import ExternalTaskQuery, HistoricIncidentQuery, IncidentQuery, VariableCondition

TEXTS = ["Connection refused", "100% done", "100x done", "a_b", "axb", "back\\slash", "ends with \\", "a*b [x]?"]

PATTERNS = [
    ("Connection%", {"Connection refused"}),
    ("connection%", set()),  # case-sensitive
    ("%REFUSED", set()),
    ("100\\%%", {"100% done"}),
    ("100_ done", {"100% done", "100x done"}),
    ("a\\_b", {"a_b"}),
    ("a_b", {"a_b", "axb"}),
    ("%\\\\%", {"back\\slash", "ends with \\"}),
    ("ends with \\", {"ends with \\"}),  # a trailing lone backslash is a backslash
    ("%\\", {"ends with \\"}),
    ("\\a\\x\\b", {"axb"}),  # an escaped ordinary character is that character
    ("a*b [x]?", {"a*b [x]?"}),
    ("a*b%", {"a*b [x]?"}),
    ("%[x]%", {"a*b [x]?"}),
    ("%", set(TEXTS)),
]
IDS = [repr(pattern) for pattern, _ in PATTERNS]


@pytest.fixture
def failed(service) -> dict[str, str]:
    """One task per text, failed for good with the text as its error message; by task id."""
    tasks = service.create_many([NewExternalTask(topic_name="like") for _ in TEXTS])
    request = FetchAndLockRequest(
        worker_id="w", max_tasks=len(TEXTS), topics=[FetchTopic(topic_name="like", lock_duration=60_000)]
    )
    locked = {locked.task.id for locked in service.fetch_and_lock(request)}
    assert locked == {task.id for task in tasks}
    messages = dict(zip((task.id for task in tasks), TEXTS))
    for task_id, message in messages.items():
        service.handle_failure(task_id, "w", error_message=message, retries=0)
    return messages


@pytest.mark.parametrize(("pattern", "matches"), PATTERNS, ids=IDS)
def test_incident_message_like(service, failed, pattern, matches):
    found = service.query_incidents(IncidentQuery(incident_message_like=pattern))
    assert {incident.incident_message for incident in found} == matches
    assert service.count_incidents(IncidentQuery(incident_message_like=pattern)) == len(matches)


@pytest.mark.parametrize(("pattern", "matches"), PATTERNS, ids=IDS)
def test_historic_incident_message_like(service, failed, pattern, matches):
    found = service.query_historic_incidents(HistoricIncidentQuery(incident_message_like=pattern))
    assert {incident.incident_message for incident in found} == matches
    assert service.count_historic_incidents(HistoricIncidentQuery(incident_message_like=pattern)) == len(matches)


@pytest.fixture
def described(service) -> None:
    """One task per text, its process instance's variable ``text`` holding it."""
    service.create_many([NewExternalTask(topic_name="like", variables={"text": text}) for text in TEXTS])


@pytest.mark.parametrize(("pattern", "matches"), PATTERNS, ids=IDS)
def test_a_like_condition_on_a_variable(service, described, pattern, matches):
    query = ExternalTaskQuery(process_variables=[VariableCondition("text", "like", pattern)])
    assert service.count_tasks(query) == len(matches)
    not_like = ExternalTaskQuery(process_variables=[VariableCondition("text", "notLike", pattern)])
    assert service.count_tasks(not_like) == len(TEXTS) - len(matches)


@pytest.mark.parametrize(("pattern", "matches"), PATTERNS, ids=IDS)
def test_a_fetch_by_version_tag(service, pattern, matches):
    by_id = {
        task.id: text
        for text, task in zip(
            TEXTS,
            service.create_many(
                [NewExternalTask(topic_name="tagged", process_definition_version_tag=text) for text in TEXTS]
            ),
        )
    }
    topic = FetchTopic(topic_name="tagged", lock_duration=60_000, process_definition_version_tag=pattern)
    fetched = service.fetch_and_lock(FetchAndLockRequest(worker_id="w", max_tasks=len(TEXTS), topics=[topic]))
    assert {by_id[locked.task.id] for locked in fetched} == matches
