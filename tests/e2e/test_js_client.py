"""The official JavaScript client (camunda-external-task-client-js 3.1.0), unmodified, against a
real ``extask serve`` process: runs ``scripts/js_client_check.sh``.

The script installs the client from the npm registry into a temporary directory, starts its own
server (a temporary SQLite database, a free port; stopped by its pid afterwards) and runs
``scripts/js_client_check.mjs``: a worker that completes with typed variables (sent lower-case),
fails with retries 0 (incident, PUT retries, fetched again), throws a BPMN error, extends and
releases its lock, every effect verified over HTTP.

Skipped, never failed, when ``node`` or ``npm`` is missing or the npm registry cannot be reached
(checked with ``npm view`` before the run; the script itself exits 75 when the install fails).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "js_client_check.sh"
PACKAGE = "camunda-external-task-client-js@3.1.0"
EXIT_INSTALL_FAILED = 75  # the script's status when npm could not install the client
REGISTRY_TIMEOUT_SECONDS = 30
RUN_TIMEOUT_SECONDS = 180

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed to install and run camunda-external-task-client-js (not installed)",
)


@pytest.fixture(scope="module")
def npm_registry_reachable() -> None:
    """Skip unless npm can resolve the client's version from its configured registry."""
    try:
        probe = subprocess.run(
            ["npm", "view", PACKAGE, "version", "--fetch-retries=0", "--fetch-timeout=10000"],
            capture_output=True,
            text=True,
            timeout=REGISTRY_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"the npm registry did not answer within {REGISTRY_TIMEOUT_SECONDS} s (npm view {PACKAGE})")
    if probe.returncode != 0 or "3.1.0" not in probe.stdout:
        pytest.skip(f"the npm registry cannot be reached (npm view {PACKAGE}): {(probe.stderr or probe.stdout)[-500:]}")


def test_js_client_runs_every_scenario(npm_registry_reachable: None):
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    output = f"status {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    if result.returncode == EXIT_INSTALL_FAILED:
        pytest.skip(f"npm could not install {PACKAGE}:\n{result.stderr[-1000:]}")
    assert result.returncode == 0, output
    assert "5/5 scenarios passed" in result.stdout, output
    assert "js_client_check: OK" in result.stdout, output
