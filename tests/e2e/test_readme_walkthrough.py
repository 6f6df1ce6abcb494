"""The README's curl walk-through, run as written against a real server, so the README stays true."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "curl_walkthrough.sh"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")
def test_the_curl_walkthrough_goes_from_creation_to_a_complete_history(server):
    """Create, fetch, fail to an incident, resolve it with retries, complete: the history shows all three logs."""
    run = subprocess.run(
        ["bash", str(SCRIPT), server.base_url], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    history = json.loads(run.stdout.strip().splitlines()[-1])
    assert [(log["creationLog"], log["failureLog"], log["successLog"]) for log in history] == [
        (True, False, False), (False, True, False), (False, False, True),
    ]
    assert '"incidentType":"failedExternalTask"' in run.stdout
    assert '"invoiceNumber":{"type":"String","value":"INV-1","valueInfo":{}}' in run.stdout
