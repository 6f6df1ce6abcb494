"""Under a steady workload on a fresh PostgreSQL schema, nothing scans extask's growing tables.

Tasks keep arriving (each with a variable, in a process instance of its own) while workers fetch
and complete them, over REST against a real ``extask serve``. The tables are never analysed in
the run's half minute (the development machines run PostgreSQL with autovacuum off), so a plan made
while they were nearly empty, and kept for the connection's life, would scan them on every
commit and fetch as they grow: rows read by sequential scans would grow with the square of the
tasks. They must stay near zero, whatever PostgreSQL's statistics say.

The latencies of such a run are figures of ``scripts/bench_steady.py`` (docs/performance.md),
not assertions: a loaded machine makes them noisy, where the rows a scan read are counted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import postgres_url
from tests.e2e.conftest import REPO_ROOT

pytestmark = pytest.mark.postgres

BENCH = REPO_ROOT / "scripts" / "bench_steady.py"
DURATION_SECONDS = 30
WORKLOAD = ["--rate", "200", "--burst", "50", "--workers", "4", "--max-tasks", "20", "--interval", "10"]
# The tables every task's lifecycle writes and fetch-and-lock reads, and the event store.
HOT_TABLES = ("ext_task", "proc_var", "proc_inst", "task_var", "incident", "extask_events")
# Rows sequential scans may read per task created: a scan of an empty table at start reads none.
SCANNED_ROWS_PER_TASK = 0.01


@pytest.fixture(scope="module")
def steady_run(postgres_available) -> dict:
    if not postgres_available:
        pytest.skip("PostgreSQL is not reachable")
    finished = subprocess.run(
        [
            sys.executable, str(BENCH), "--mode", "rest", "--database-url", postgres_url(),
            "--duration", str(DURATION_SECONDS), *WORKLOAD, "--json",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=DURATION_SECONDS + 120,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def test_the_workload_ran_with_tasks_completed_as_they_arrived(steady_run):
    summary = steady_run["summary"]
    assert summary["created"] > 0 and summary["completed"] > 0, summary


@pytest.mark.parametrize("table", HOT_TABLES)
def test_sequential_scans_read_next_to_no_rows_of_a_hot_table(steady_run, table):
    created = steady_run["summary"]["created"]
    scans = steady_run["seq_scans"][table]
    assert scans["seq_tup_read"] <= SCANNED_ROWS_PER_TASK * created, scans
