"""The served OpenAPI document tells the truth: schemathesis calls every operation in-process
(ASGI, no network) with data generated from ``/engine-rest/openapi.json``, valid and invalid, and
checks that no answer is a server error and that every status, content type and body is the one
documented.

One fresh SQLite engine serves the module, with real long polling. Generated
``asyncResponseTimeout`` values are capped at ``MAX_POLL_MS``, so a poll on an empty topic waits
milliseconds, not up to half an hour: only the length of the wait is left out; the validation and
the answer of a long poll are checked like everything else.

Bounded to stay fast: ``MAX_EXAMPLES`` per operation and generation mode, no deadline, no example
database. schemathesis's coverage phase (boundary values of every parameter) doubles the run
time, so it only runs with ``EXTASK_OPENAPI_COVERAGE=1``.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.application.queries import HistoricExternalTaskLogQuery, IncidentQuery
from extask.infrastructure.bootstrap import build_engine
from extask.infrastructure.rest.app import REST_ROOT, create_app, serve
from extask.infrastructure.rest.request_guards import RequestPolicy

MAX_EXAMPLES = 10
MAX_POLL_MS = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The app exists at import, because schemathesis reads its served document while collecting; the
# fixture plugs its engine in, so nothing touches a database before the tests run.
# schemathesis sends its requests to the ASGI app as the host "testserver".
app = create_app(None, policy=RequestPolicy(allowed_hosts=frozenset({"testserver"})))  # type: ignore[arg-type]
schema = schemathesis.openapi.from_asgi(f"{REST_ROOT}/openapi.json", app)
schema.config.phases.coverage.enabled = os.environ.get("EXTASK_OPENAPI_COVERAGE") == "1"
schema.config.phases.coverage.unexpected_methods = set()
schema.config.phases.coverage.generate_duplicate_query_parameters = False


@pytest.fixture(scope="module")
def served_engine(tmp_path_factory):
    """A fresh SQLite engine behind ``app`` for the module, with its long poller running."""
    engine = build_engine(f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'extask.db'}")
    serve(app, engine.service, engine.long_polling, engine.batches, engine.audit)
    engine.long_polling.start()  # the app's lifespan would; schemathesis ran it before there was an engine
    _seed(engine)
    yield engine
    engine.long_polling.shutdown()
    serve(app, None)
    engine.close()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(served_engine, case):
    if isinstance(case.body, dict) and isinstance(case.body.get("asyncResponseTimeout"), int):
        case.body["asyncResponseTimeout"] = min(case.body["asyncResponseTimeout"], MAX_POLL_MS)
    _aim_at_seeded_state(case)
    case.call_and_validate(checks=CHECKS)


# Generated ids almost never name anything, so half the cases (chosen by the generated value, to
# stay reproducible) are aimed at tasks, logs, incidents and a process instance that exist, and
# half the worker ids at the worker holding the seeded locks.
SEEDED: dict[str, list[str]] = {}


def _seed(engine) -> None:
    service = engine.service
    tasks = [service.create(NewExternalTask(topic_name="seed", process_instance_id="pi-seed")) for _ in range(6)]
    service.fetch_and_lock(FetchAndLockRequest("w", 4, [FetchTopic("seed", lock_duration=600_000)]))
    service.handle_failure(tasks[0].id, "w", error_message="boom", error_details="trace", retries=0, retry_timeout=0)
    service.handle_failure(tasks[1].id, "w", error_message="again", error_details=None, retries=2, retry_timeout=0)
    SEEDED["task_id"] = [task.id for task in tasks]
    SEEDED["process_instance_id"] = ["pi-seed"]
    SEEDED["incident_id"] = [incident.id for incident in service.query_incidents(IncidentQuery())]
    SEEDED["log_id"] = [log.id for log in service.query_history_log(HistoricExternalTaskLogQuery())]


def _aim_at_seeded_state(case) -> None:
    for name, value in (case.path_parameters or {}).items():
        choices = SEEDED.get(name)
        if choices and isinstance(value, str) and len(value) % 2 == 0:
            case.path_parameters[name] = choices[len(value) // 2 % len(choices)]
    worker = case.body.get("workerId") if isinstance(case.body, dict) else None
    if isinstance(worker, str) and len(worker) % 2 == 0:
        case.body["workerId"] = "w"  # the worker holding the seeded locks
