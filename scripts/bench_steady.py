"""Steady-state benchmark: do latencies and the backlog hold still while tasks keep arriving?

    python scripts/bench_steady.py --mode service|rest [--database-url URL] [--existing]
        [--rate R] [--burst B] [--variable-size N] [--workers W] [--max-tasks M]
        [--duration S] [--interval I] [--server-workers K] [--json]

A producer creates ``--rate`` tasks per second in bursts: ``--burst`` tasks (one batch create)
at the absolute times start + k·B/R, each task in a process instance of its own with one String
variable of ``--variable-size`` characters (so the variables land in proc_var). ``--workers``
threads loop at the same time: fetch and lock up to ``--max-tasks`` tasks (all their variables
are fetched, as Camunda's clients do by default), then complete each one with one variable of
its own. A fetch that finds nothing is followed by a wait for work: a long poll over REST
(``asyncResponseTimeout``), a short sleep in service mode; waits are counted ("polls"), not
timed as fetches. ``service`` drives ExternalTaskService in-process; ``rest`` starts
``extask serve`` with K processes and drives it over HTTP (``http.client``, kept alive).

This is what ``scripts/bench.py`` cannot show: bench.py creates every task before the workers
start, without variables, so tables never grow while it measures. Here the runtime tables and
the event store grow for the whole run, as in production: a query that scans them gets
slower minute after minute, and the rows show it.

Every ``--interval`` seconds it prints one row: created/s and completed/s in the interval, the
backlog (created - completed so far), the producer's lag behind its schedule (it never lowers
its rate: when a create takes longer than B/R it falls behind, and says so here), the waits
for work, fetch and complete p50/p99, and how busy the machine's cores were. At the end, a
summary compares the first and the last minute (the first and last third of a run shorter
than 120 s), says whether completion kept up (a final backlog of at most 2 x (burst + workers x
max-tasks): one burst waiting and a full batch in every worker's hands, doubled for the burst
that may just have come), and on PostgreSQL prints how many sequential
scans PostgreSQL made of extask's tables during the run (``pg_stat_user_tables`` deltas,
read before the workload and after the engine's connections are closed; PostgreSQL reports
a backend's counters up to a second late, so the deltas may count a little of the startup).

Each run uses a fresh PostgreSQL schema or SQLite file, removed afterwards (bench.py's
``fresh_database``); ``--existing`` runs on the database (the URL's ``schema``) as it is,
e.g. one already holding a million events, and leaves it there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for scripts.bench; extask itself comes from the install

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask  # noqa: E402
from extask.domain.variables import typed_value  # noqa: E402
from extask.infrastructure.bootstrap import build_engine  # noqa: E402
from scripts.bench import (  # noqa: E402
    TOPICS,
    KeepAliveClient,
    fresh_database,
    machine_busy_seconds,
    percentile,
    process_tree_seconds,
    running_server,
)

LOCK_DURATION_MS = 60_000
POLL_SECONDS = 1.0  # a REST worker's long poll (asyncResponseTimeout) when a fetch found nothing
SERVICE_POLL_SECONDS = 0.02  # in service mode, a short sleep instead
REPORT_GRACE_SECONDS = 0.1  # a row is computed this long after its interval, for calls ending at its edge
STATS_SETTLE_SECONDS = 0.5  # closed backends report their table counters as they exit
HTTP_TIMEOUT_SECONDS = 30
RESULT_VALUE = "steady-state-result-" + "r" * 30  # the 50-character variable a worker completes with
SCANNED_TABLES = ["ext_task", "proc_var", "proc_inst", "task_var", "incident", "extask_events"]


@dataclass(frozen=True)
class Workload:
    rate: float
    burst: int
    variable_size: int
    workers: int
    max_tasks: int
    duration: float
    interval: float

    @property
    def period(self) -> float:
        """Seconds between two bursts."""
        return self.burst / self.rate

    @property
    def backlog_bound(self) -> int:
        """The backlog of a system that keeps up, at any moment: the latest burst not yet fetched
        plus a full batch in every worker's hands, doubled for the burst that may just have come."""
        return 2 * (self.burst + self.workers * self.max_tasks)


# -- what happened, when --------------------------------------------------------------------------


@dataclass
class Samples:
    """Every call the run made, by the moment it ended (seconds since the start)."""

    fetches: list[tuple[float, float]] = field(default_factory=list)  # (end, ms)
    completes: list[tuple[float, float]] = field(default_factory=list)  # (end, ms)
    bursts: list[tuple[float, int, float]] = field(default_factory=list)  # (end, tasks, start lag ms)
    polls: list[tuple[float]] = field(default_factory=list)  # (when a worker began to wait for work,)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, sample: object) -> None:
        with self.lock:
            getattr(self, kind).append(sample)

    def between(self, kind: str, start: float, end: float) -> list:
        with self.lock:
            return [s for s in getattr(self, kind) if start <= s[0] < end]


def quantile_ms(values: list[float], q: int) -> float | None:
    return round(percentile(values, q), 2) if values else None


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# -- the two ways of driving the engine -----------------------------------------------------------


class ServiceDriver:
    """ExternalTaskService in-process."""

    def __init__(self, url: str) -> None:
        self.engine = build_engine(url)
        self.service = self.engine.service
        self.topics = [FetchTopic(topic_name=t, lock_duration=LOCK_DURATION_MS) for t in TOPICS]
        self.result = {"result": typed_value(RESULT_VALUE, "String")}

    def create(self, tasks: list[tuple[str, str]], payload: str) -> None:
        variables = {"payload": typed_value(payload, "String")}
        self.service.create_many(
            [NewExternalTask(topic_name=t, process_instance_id=pi, variables=variables) for t, pi in tasks]
        )

    def fetch(self, worker_id: str, max_tasks: int) -> list[str]:
        request = FetchAndLockRequest(worker_id=worker_id, max_tasks=max_tasks, topics=self.topics)
        return [locked.task.id for locked in self.service.fetch_and_lock(request)]

    def wait_for_tasks(self, worker_id: str, max_tasks: int, seconds: float) -> list[str]:
        time.sleep(min(SERVICE_POLL_SECONDS, seconds))
        return []

    def complete(self, task_id: str, worker_id: str) -> None:
        self.service.complete(task_id, worker_id, variables=self.result)

    def engine_cpu_seconds(self) -> float | None:
        return time.process_time()  # this process: the engine, and the benchmark's own threads

    def close(self) -> None:
        self.engine.close()


class RestDriver:
    """A running ``extask serve``, over HTTP: one keep-alive connection per thread."""

    def __init__(self, base_url: str, server_pid: int) -> None:
        self.client = KeepAliveClient(base_url, timeout=HTTP_TIMEOUT_SECONDS)
        self.server_pid = server_pid
        self.topics = [{"topicName": t, "lockDuration": LOCK_DURATION_MS} for t in TOPICS]
        self.result = {"result": {"value": RESULT_VALUE, "type": "String"}}

    def post(self, path: str, body: dict) -> bytes:
        return self.client.post(path, body)

    def create(self, tasks: list[tuple[str, str]], payload: str) -> None:
        variables = {"payload": {"value": payload, "type": "String"}}
        specs = [{"topicName": t, "processInstanceId": pi, "variables": variables} for t, pi in tasks]
        self.post("/external-task/create/batch", {"tasks": specs})

    def fetch(self, worker_id: str, max_tasks: int, timeout_ms: int | None = None) -> list[str]:
        body = {"workerId": worker_id, "maxTasks": max_tasks, "topics": self.topics}
        if timeout_ms:
            body["asyncResponseTimeout"] = timeout_ms
        return [task["id"] for task in json.loads(self.post("/external-task/fetchAndLock", body))]

    def wait_for_tasks(self, worker_id: str, max_tasks: int, seconds: float) -> list[str]:
        return self.fetch(worker_id, max_tasks, timeout_ms=max(1, int(min(POLL_SECONDS, seconds) * 1000)))

    def complete(self, task_id: str, worker_id: str) -> None:
        self.post(f"/external-task/{task_id}/complete", {"workerId": worker_id, "variables": self.result})

    def engine_cpu_seconds(self) -> float | None:
        return process_tree_seconds(self.server_pid)

    def close(self) -> None:
        self.client.close()


@contextmanager
def opened_driver(mode: str, url: str, server_workers: int) -> Iterator[ServiceDriver | RestDriver]:
    """The driver for ``mode``; the engine closed, or the server stopped (by its pid), afterwards."""
    if mode == "service":
        driver = ServiceDriver(url)
        try:
            yield driver
        finally:
            driver.close()
    else:
        with running_server(url, server_workers) as (base_url, server_pid):
            driver = RestDriver(base_url, server_pid)
            try:
                yield driver
            finally:
                driver.close()


# -- the producer and the workers -----------------------------------------------------------------


class Producer:
    """Creates a burst at every start + k·period, never skipping one: late bursts are created
    at once, one after the other, and their lag is recorded."""

    def __init__(self, driver, workload: Workload, samples: Samples, clock: Callable[[], float]) -> None:
        self.driver, self.workload, self.samples, self.clock = driver, workload, samples, clock
        self.payload = ("steady-payload-" * (workload.variable_size // 15 + 1))[: workload.variable_size]
        self.run_id = uuid.uuid4().hex[:8]  # process instances of their own, even on an --existing database
        self.next_due = 0.0  # when the next burst not yet begun is due (seconds since the start)

    def lag_at(self, moment: float) -> float:
        """How far behind its schedule the producer is at ``moment`` (ms), 0 if on time."""
        return max(0.0, moment - self.next_due) * 1000

    def run(self, stop: threading.Event) -> None:
        burst, period, duration = self.workload.burst, self.workload.period, self.workload.duration
        k = 0
        while (due := k * period) < duration:
            if stop.wait(max(0.0, due - self.clock())):
                return
            started = self.clock()
            self.next_due = due + period
            numbers = range(k * burst, (k + 1) * burst)
            self.driver.create([(TOPICS[n % len(TOPICS)], f"steady-{self.run_id}-{n}") for n in numbers], self.payload)
            self.samples.add("bursts", (self.clock(), burst, (started - due) * 1000))
            k += 1


def run_worker(index: int, driver, workload: Workload, samples: Samples, clock, stop: threading.Event) -> None:
    worker_id = f"steady-worker-{index}"
    while not stop.is_set():
        started = time.perf_counter()
        locked = driver.fetch(worker_id, workload.max_tasks)
        samples.add("fetches", (clock(), ms_since(started)))
        if not locked:
            remaining = workload.duration - clock()
            if remaining <= 0:
                return
            samples.add("polls", (clock(),))
            locked = driver.wait_for_tasks(worker_id, workload.max_tasks, remaining)
        for task_id in locked:
            if stop.is_set():
                return
            started = time.perf_counter()
            driver.complete(task_id, worker_id)
            samples.add("completes", (clock(), ms_since(started)))


def guarded(target: Callable[..., None], errors: list[BaseException], stop: threading.Event) -> Callable[..., None]:
    """``target``, its error kept for the caller and everything stopped by it."""

    def run(*args) -> None:
        try:
            target(*args)
        except BaseException as error:  # re-raised by run_workload
            errors.append(error)
            stop.set()

    return run


# -- the run and its rows -------------------------------------------------------------------------


def interval_row(samples: Samples, producer: Producer, start: float, end: float, cpu_busy_pct: float | None) -> dict:
    fetch_ms = [ms for _, ms in samples.between("fetches", start, end)]
    complete_ms = [ms for _, ms in samples.between("completes", start, end)]
    bursts = samples.between("bursts", start, end)
    created_so_far = sum(n for _, n, _ in samples.between("bursts", 0.0, end))
    completed_so_far = len(samples.between("completes", 0.0, end))
    lag = max([lag for _, _, lag in bursts] + [producer.lag_at(end)])
    seconds = end - start
    return {
        "elapsed_s": round(end, 1),
        "created_per_s": round(sum(n for _, n, _ in bursts) / seconds, 1),
        "completed_per_s": round(len(complete_ms) / seconds, 1),
        "backlog": created_so_far - completed_so_far,
        "producer_lag_ms": round(lag, 1),
        "polls": len(samples.between("polls", start, end)),
        "fetch_p50_ms": quantile_ms(fetch_ms, 50),
        "fetch_p99_ms": quantile_ms(fetch_ms, 99),
        "complete_p50_ms": quantile_ms(complete_ms, 50),
        "complete_p99_ms": quantile_ms(complete_ms, 99),
        "cpu_busy_pct": cpu_busy_pct,
    }


def busy_pct(before: float | None, after: float | None, seconds: float) -> float | None:
    if before is None or after is None or seconds <= 0:
        return None
    return round(100 * (after - before) / (seconds * (os.cpu_count() or 1)), 1)


@dataclass
class Run:
    rows: list[dict]
    samples: Samples
    cpu_busy_pct: float | None
    engine_cpu_seconds: float | None
    client_cpu_seconds: float | None  # over REST, this process: the producer and workers' HTTP calls


def run_workload(driver, workload: Workload, emit: Callable[[dict], None]) -> Run:
    """The producer and the workers for ``workload.duration`` seconds, a row every interval."""
    samples, stop, errors = Samples(), threading.Event(), []
    t0 = time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - t0

    producer = Producer(driver, workload, samples, clock)
    threads = [threading.Thread(target=guarded(producer.run, errors, stop), args=(stop,))]
    threads += [
        threading.Thread(target=guarded(run_worker, errors, stop), args=(i, driver, workload, samples, clock, stop))
        for i in range(workload.workers)
    ]

    def stop_and_join() -> None:
        stop.set()
        for thread in threads:
            thread.join()

    machine_start, engine_start, client_start = machine_busy_seconds(), driver.engine_cpu_seconds(), time.process_time()
    for thread in threads:
        thread.start()
    try:
        rows = report_intervals(workload, samples, producer, clock, stop, stop_and_join, emit)
    finally:
        stop_and_join()
    if errors:
        raise errors[0]
    engine_end = driver.engine_cpu_seconds()
    engine = None if engine_start is None or engine_end is None else round(engine_end - engine_start, 2)
    client = round(time.process_time() - client_start, 2) if isinstance(driver, RestDriver) else None
    return Run(rows, samples, busy_pct(machine_start, machine_busy_seconds(), clock()), engine, client)


def report_intervals(
    workload: Workload, samples: Samples, producer: Producer, clock: Callable[[], float],
    stop: threading.Event, stop_and_join: Callable[[], None], emit: Callable[[dict], None],
) -> list[dict]:
    """A row at the end of every interval (the last one once every thread has stopped)."""
    rows, row_start, machine_before, measured_at = [], 0.0, machine_busy_seconds(), clock()
    while row_start < workload.duration and not stop.is_set():
        row_end = min(row_start + workload.interval, workload.duration)
        last = row_end >= workload.duration
        stop.wait(max(0.0, row_end + (0.0 if last else REPORT_GRACE_SECONDS) - clock()))
        if last:
            stop_and_join()
        machine_now, now = machine_busy_seconds(), clock()
        busy = busy_pct(machine_before, machine_now, now - measured_at)
        rows.append(interval_row(samples, producer, row_start, row_end, busy))
        emit(rows[-1])
        row_start, machine_before, measured_at = row_end, machine_now, now
    return rows


# -- the summary ----------------------------------------------------------------------------------


def compared_windows(duration: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The first and last minute, or the first and last third of a run shorter than 120 s."""
    width = 60.0 if duration >= 120 else duration / 3
    return (0.0, width), (duration - width, duration)


def latencies(samples: Samples, window: tuple[float, float]) -> dict:
    fetch_ms = [ms for _, ms in samples.between("fetches", *window)]
    complete_ms = [ms for _, ms in samples.between("completes", *window)]
    return {
        "from_s": round(window[0], 1), "to_s": round(window[1], 1),
        "fetch_p50_ms": quantile_ms(fetch_ms, 50), "fetch_p99_ms": quantile_ms(fetch_ms, 99),
        "complete_p50_ms": quantile_ms(complete_ms, 50), "complete_p99_ms": quantile_ms(complete_ms, 99),
    }


def summarize(run: Run, workload: Workload) -> dict:
    first_window, last_window = compared_windows(workload.duration)
    first, last = latencies(run.samples, first_window), latencies(run.samples, last_window)
    ratios = {
        key: round(last[key] / first[key], 2) if first[key] and last[key] is not None else None
        for key in ("fetch_p50_ms", "fetch_p99_ms", "complete_p50_ms", "complete_p99_ms")
    }
    created = sum(n for _, n, _ in run.samples.between("bursts", 0.0, workload.duration))
    completed = len(run.samples.between("completes", 0.0, workload.duration))
    backlog = created - completed
    max_lag = max((row["producer_lag_ms"] for row in run.rows), default=0.0)
    return {
        "first": first, "last": last, "ratio_last_to_first": ratios,
        "created": created, "completed": completed, "final_backlog": backlog,
        "backlog_bound": workload.backlog_bound, "kept_up": backlog <= workload.backlog_bound,
        "max_producer_lag_ms": max_lag, "producer_kept_schedule": max_lag <= workload.period * 1000,
        "cpu_busy_pct": run.cpu_busy_pct, "engine_cpu_seconds": run.engine_cpu_seconds,
        "client_cpu_seconds": run.client_cpu_seconds,
    }


# -- PostgreSQL's sequential-scan counters --------------------------------------------------------


def admin_dsn_and_schema(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", "public")
    return urlunsplit(parts._replace(query=urlencode(query))), schema


def scan_counters(url: str) -> dict[str, dict[str, int]]:
    """Per table of the run's schema: seq_scan, seq_tup_read, idx_scan (a fresh snapshot)."""
    dsn, schema = admin_dsn_and_schema(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname, seq_scan, seq_tup_read, COALESCE(idx_scan, 0) FROM pg_stat_user_tables "
            "WHERE schemaname = %s",
            (schema,),
        ).fetchall()
    return {name: {"seq_scan": s, "seq_tup_read": t, "idx_scan": i} for name, s, t, i in rows}


def counter_deltas(before: dict, after: dict) -> dict[str, dict[str, int]]:
    """The named tables first, then any other of the schema the run scanned."""
    names = [t for t in SCANNED_TABLES if t in after] + sorted(set(after) - set(SCANNED_TABLES))
    zero = {"seq_scan": 0, "seq_tup_read": 0, "idx_scan": 0}
    return {name: {k: v - before.get(name, zero)[k] for k, v in after[name].items()} for name in names}


# -- output ---------------------------------------------------------------------------------------

COLUMNS = [  # (row key, heading, width)
    ("elapsed_s", "elapsed s", 9), ("created_per_s", "created/s", 10), ("completed_per_s", "completed/s", 12),
    ("backlog", "backlog", 8), ("producer_lag_ms", "prod lag ms", 12), ("polls", "polls", 6),
    ("fetch_p50_ms", "fetch p50", 10), ("fetch_p99_ms", "fetch p99", 10),
    ("complete_p50_ms", "compl p50", 10), ("complete_p99_ms", "compl p99", 10), ("cpu_busy_pct", "busy %", 7),
]


def cell(value: object, width: int) -> str:
    return f"{'-' if value is None else value:>{width}}"


def print_header(settings: dict) -> None:
    s = settings
    print(
        f"steady state: {s['mode']} mode on {s['database']}, {s['rate']:g} tasks/s in bursts of {s['burst']} every "
        f"{s['burst'] / s['rate']:.3f} s, {s['variable_size']}-character variable, {s['workers']} workers x "
        f"{s['max_tasks']}, {s['duration']:g} s; latencies in ms"
    )
    print(" ".join(cell(heading, width) for _, heading, width in COLUMNS), flush=True)


def print_row(row: dict) -> None:
    print(" ".join(cell(row[key], width) for key, _, width in COLUMNS), flush=True)


def print_summary(summary: dict, scans: dict | None, database: str) -> None:
    first, last, ratios = summary["first"], summary["last"], summary["ratio_last_to_first"]
    print(f"\nfirst {first['from_s']:g}-{first['to_s']:g} s vs last {last['from_s']:g}-{last['to_s']:g} s:")
    print(f"{'':14}{'first':>10}{'last':>10}{'last/first':>12}")
    for key, label in [("fetch_p50_ms", "fetch p50"), ("fetch_p99_ms", "fetch p99"),
                       ("complete_p50_ms", "complete p50"), ("complete_p99_ms", "complete p99")]:
        print(f"{label:<14}{cell(first[key], 10)}{cell(last[key], 10)}{cell(ratios[key], 12)}")
    print(
        f"created {summary['created']}, completed {summary['completed']}, final backlog {summary['final_backlog']}: "
        f"completion {'kept up' if summary['kept_up'] else 'did NOT keep up'} "
        f"(bound 2 x (burst + workers x max-tasks) = {summary['backlog_bound']})"
    )
    print(
        f"producer {'kept' if summary['producer_kept_schedule'] else 'did NOT keep'} its schedule "
        f"(max lag {summary['max_producer_lag_ms']} ms); machine busy {cell(summary['cpu_busy_pct'], 0)} % of "
        f"{os.cpu_count()} cores; engine CPU {cell(summary['engine_cpu_seconds'], 0)} s"
        + ("" if summary["client_cpu_seconds"] is None else f", HTTP client CPU {summary['client_cpu_seconds']} s")
    )
    if scans is None:
        print(f"sequential-scan counters: not applicable on {database} (PostgreSQL's pg_stat_user_tables)")
        return
    print("\nduring the run (pg_stat_user_tables deltas):")
    print(f"{'table':<20}{'seq_scan':>12}{'seq_tup_read':>16}{'idx_scan':>12}")
    for table, counts in scans.items():
        print(f"{table:<20}{counts['seq_scan']:>12}{counts['seq_tup_read']:>16}{counts['idx_scan']:>12}")


# -- main -----------------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["service", "rest"], default="service")
    parser.add_argument("--database-url", default=os.environ.get("EXTASK_DATABASE_URL", "sqlite:///extask.db"))
    parser.add_argument("--existing", "--keep-database", action="store_true",
                        help="run on the database (its schema) as it is: neither created nor removed")
    parser.add_argument("--rate", type=float, default=500.0, help="tasks created per second")
    parser.add_argument("--burst", type=int, default=100, help="tasks per batch create, every burst/rate s")
    parser.add_argument("--variable-size", type=int, default=200, help="characters of each task's variable")
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--max-tasks", type=int, default=20)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between rows")
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = parser.parse_args()
    if args.rate <= 0 or args.burst < 1 or args.duration <= 0 or args.interval <= 0 or args.workers < 1:
        parser.error("--rate, --burst, --duration, --interval and --workers must be positive")
    return args


def main() -> None:
    args = parse_arguments()
    workload = Workload(args.rate, args.burst, args.variable_size, args.workers, args.max_tasks,
                        args.duration, args.interval)
    postgres = args.database_url.startswith("postgres")
    settings = {
        "mode": args.mode, "database": "postgres" if postgres else "sqlite", "rate": args.rate,
        "burst": args.burst, "variable_size": args.variable_size, "workers": args.workers,
        "max_tasks": args.max_tasks, "duration": args.duration, "interval": args.interval,
        "existing_database": args.existing,
    }
    if args.mode == "rest":
        settings["server_workers"] = args.server_workers
    if not args.json:
        print_header(settings)
    database = nullcontext(args.database_url) if args.existing else fresh_database(args.database_url)
    with database as url:
        with opened_driver(args.mode, url, args.server_workers) as driver:
            before = scan_counters(url) if postgres else None
            run = run_workload(driver, workload, emit=lambda row: None if args.json else print_row(row))
        if postgres:
            time.sleep(STATS_SETTLE_SECONDS)
            scans = counter_deltas(before, scan_counters(url))
        else:
            scans = None
    summary = summarize(run, workload)
    if args.json:
        print(json.dumps(settings | {"rows": run.rows, "summary": summary, "seq_scans": scans}))
    else:
        print_summary(summary, scans, settings["database"])


if __name__ == "__main__":
    main()
