"""The steady-state benchmark (``scripts/bench_steady.py``) as its users run it, on a small
workload: a row per interval, a summary of the first and last third, and on PostgreSQL the
sequential-scan counters of extask's tables. Every figure is a noisy sample: it is checked for
sense (present, typed, non-negative, p50 <= p99, completed <= created), never against another
timing or a bound."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.conftest import postgres_url
from tests.e2e.conftest import REPO_ROOT

BENCH = REPO_ROOT / "scripts" / "bench_steady.py"
DURATION, INTERVAL, RATE, BURST, WORKERS = 6, 2, 200, 20, 2
RUN_TIMEOUT_SECONDS = 60
ROW_KEYS = {
    "elapsed_s", "created_per_s", "completed_per_s", "backlog", "producer_lag_ms", "polls",
    "fetch_p50_ms", "fetch_p99_ms", "complete_p50_ms", "complete_p99_ms", "cpu_busy_pct",
}
LATENCY_PAIRS = [("fetch_p50_ms", "fetch_p99_ms"), ("complete_p50_ms", "complete_p99_ms")]
SCANNED_TABLES = {"ext_task", "proc_var", "proc_inst", "task_var", "incident", "extask_events"}


def run_bench(*arguments: str) -> dict:
    finished = subprocess.run(
        [
            sys.executable, str(BENCH), *arguments, "--duration", str(DURATION), "--interval", str(INTERVAL),
            "--rate", str(RATE), "--burst", str(BURST), "--workers", str(WORKERS), "--json",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


@pytest.fixture(scope="module", params=["service-sqlite", "service-postgres", "rest-postgres"])
def figures(request, tmp_path_factory, postgres_available) -> dict:
    mode, database = request.param.split("-")
    if database == "postgres":
        if not postgres_available:
            pytest.skip("PostgreSQL is not reachable")
        url = postgres_url()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('steady') / 'bench.db'}"
    return run_bench("--mode", mode, "--database-url", url) | {"asked": (mode, database)}


def assert_latencies_make_sense(figures: dict) -> None:
    for low, high in LATENCY_PAIRS:
        if figures[low] is None:  # no call of that kind in the window
            assert figures[high] is None
        else:
            assert 0 <= figures[low] <= figures[high], (low, high)


def test_the_run_echoes_its_workload(figures):
    assert (figures["mode"], figures["database"]) == figures["asked"]
    assert (figures["rate"], figures["burst"], figures["workers"]) == (RATE, BURST, WORKERS)
    assert (figures["duration"], figures["interval"], figures["variable_size"]) == (DURATION, INTERVAL, 200)


def test_a_row_per_interval_with_sensible_figures(figures):
    rows = figures["rows"]
    assert [row["elapsed_s"] for row in rows] == [2.0, 4.0, 6.0]
    for row in rows:
        assert row.keys() == ROW_KEYS
        assert row["created_per_s"] >= 0 and row["completed_per_s"] >= 0
        assert row["backlog"] >= 0 and row["producer_lag_ms"] >= 0 and row["polls"] >= 0
        assert_latencies_make_sense(row)
        if row["cpu_busy_pct"] is not None:
            assert math.isfinite(row["cpu_busy_pct"]) and row["cpu_busy_pct"] >= 0


def test_the_summary_counts_tasks_and_compares_first_and_last(figures):
    summary = figures["summary"]
    assert summary["created"] > 0
    assert 0 < summary["completed"] <= summary["created"]
    assert summary["final_backlog"] == summary["created"] - summary["completed"] == figures["rows"][-1]["backlog"]
    assert summary["created"] == pytest.approx(sum(row["created_per_s"] * INTERVAL for row in figures["rows"]))
    assert isinstance(summary["kept_up"], bool) and isinstance(summary["producer_kept_schedule"], bool)
    for window in ("first", "last"):
        assert_latencies_make_sense(summary[window])
    for ratio in summary["ratio_last_to_first"].values():
        assert ratio is None or ratio >= 0


def test_sequential_scan_counters_on_postgres_only(figures):
    scans = figures["seq_scans"]
    if figures["database"] == "sqlite":
        assert scans is None
        return
    assert SCANNED_TABLES <= scans.keys()
    for table, counters in scans.items():
        assert counters.keys() == {"seq_scan", "seq_tup_read", "idx_scan"}, table
        for name, value in counters.items():
            assert isinstance(value, int) and value >= 0, (table, name)
