"""The shell commands the README and docs show, run as written against a real server, so they stay
true. Only the addresses differ: the documented server address and database URLs are replaced by
the test server's, and ``extask`` is the console script of the environment running the tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT

DOCUMENTED_BASE = "http://127.0.0.1:8080/engine-rest"
DOCUMENTED_DATABASES = ("sqlite:///extask.db", "postgresql://postgres@127.0.0.1:5432/test")
TIMEOUT_SECONDS = 120

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the documented commands use curl")


def shell_blocks(document: Path, under_heading: str) -> list[str]:
    """The ``sh`` blocks of the section that starts with ``under_heading``, up to the next heading of its level."""
    text = document.read_text()
    level = under_heading.split(" ", 1)[0]
    section = text.split(under_heading + "\n", 1)[1]
    section = re.split(rf"^{level} ", section, flags=re.MULTILINE)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def as_run_against(block: str, server) -> str:
    block = re.sub("|".join(map(re.escape, DOCUMENTED_DATABASES)), lambda _: server.database_url, block)
    return block.replace(f"BASE={DOCUMENTED_BASE}", f"BASE={server.base_url}")


def json_documents(output: str, most: int | None = None) -> tuple[list, str]:
    """The JSON documents the commands printed first, in order (curl -s prints no newline after
    one), up to ``most`` of them, and the text after them."""
    decoder, documents, position = json.JSONDecoder(), [], 0
    while position < len(output) and (most is None or len(documents) < most):
        if output[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(output, position)
        documents.append(document)
    return documents, output[position:]


def run_shell(script: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    environment.pop("EXTASK_DATABASE_URL", None)
    finished = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=environment, cwd=REPO_ROOT, check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished


@pytest.fixture(scope="module")
def walkthrough() -> str:
    [block] = shell_blocks(REPO_ROOT / "README.md", "## A walk through the REST API with curl")
    return block


def test_the_readme_walkthrough_goes_from_creation_to_a_complete_history(server, walkthrough):
    """Create, fetch, fail to an incident, resolve it with retries, complete: the history shows all three logs."""
    printed, _ = json_documents(run_shell(as_run_against(walkthrough, server)).stdout)

    created, history = printed[0], printed[-1]
    assert [(log["creationLog"], log["failureLog"], log["successLog"]) for log in history] == [
        (True, False, False), (False, True, False), (False, False, True),
    ]
    assert {log["externalTaskId"] for log in history} == {created["id"]}
    [incident] = next(p for p in printed if isinstance(p, list) and p and "incidentType" in p[0])
    assert (incident["incidentType"], incident["incidentMessage"]) == ("failedExternalTask", "payment gateway down")
    variables = next(p for p in printed if isinstance(p, dict) and "invoiceNumber" in p)
    assert variables["invoiceNumber"] == {"type": "String", "value": "INV-1", "valueInfo": {}}


def test_the_auditing_commands_answer_for_the_walkthroughs_task(server, walkthrough):
    [history] = shell_blocks(REPO_ROOT / "docs" / "auditing.md", "## A task's history")
    script = as_run_against(walkthrough + "\necho\necho AUDIT\n" + history, server)
    audit = run_shell(script).stdout.split("\nAUDIT\n", 1)[1]

    (events, state_then), timeline = json_documents(audit, most=2)
    assert [event["type"] for event in events] == [
        "Created", "Locked", "Failed", "IncidentCreated", "RetriesSet", "IncidentResolved", "Locked", "Completed",
    ]
    assert "did not exist yet" in state_then["message"]  # the documented moment is before this run
    assert re.search(r"#1\s+Created\s+topicName=invoice", timeline)
    assert re.search(r"#8\s+Completed\s+workerId=billing-1", timeline)


def test_the_replay_commands_rebuild_and_verify(server):
    [replay] = shell_blocks(REPO_ROOT / "docs" / "auditing.md", "## Replaying the read models")
    finished = run_shell(as_run_against(replay, server))

    assert re.search(r"Replayed \d+ events", finished.stdout + finished.stderr)
    assert "No differences." in finished.stdout
