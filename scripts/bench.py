"""Throughput benchmark: task lifecycles per second, against a bare SQL queue as the baseline.

    python scripts/bench.py --mode service|rest --database-url URL --tasks N --workers W \
        --max-tasks M [--server-workers K] [--json]

It creates N tasks on a few topics (batch create), then runs W concurrent workers that fetch and
lock up to M tasks and complete each one with its own call, as the Camunda API does, until all are
done. ``service`` drives ExternalTaskService in-process; ``rest`` starts ``extask serve`` with K
processes and drives it over HTTP. It then checks in the event store that every task was completed
exactly once, and measures the baseline in the same run on the same database: a bare queue table
that claims M rows per transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and commits each
completion on its own. Each run uses a fresh PostgreSQL schema or SQLite file, removed afterwards.

Rates drift with the machine's speed, so it also prints what a lifecycle costs in CPU time, over
each worker phase (on Linux, from /proc; null elsewhere): the whole machine's busy time (engine,
database and, over REST, the benchmark's own client) per lifecycle, how busy the machine's cores
were, and the engine's own share: this process in ``service`` mode, the server's processes in
``rest`` mode (for the bare queue: this process, its SQL client).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.infrastructure.bootstrap import build_engine

ROOT = Path(__file__).resolve().parents[1]

TOPICS = ["bench-a", "bench-b", "bench-c", "bench-d"]
CREATE_BATCH = 500
LOCK_DURATION = 300_000


# -- a fresh database namespace per run -----------------------------------------------------------


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """Yield a URL for a new PostgreSQL schema or SQLite file, removed afterwards."""
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = urlunsplit(parts._replace(query=""))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        query = dict(parse_qsl(parts.query))
        query["schema"] = schema
        try:
            yield urlunsplit(parts._replace(query=urlencode(query)))
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    else:
        with tempfile.TemporaryDirectory(prefix="extask-bench-") as directory:
            yield f"sqlite:///{directory}/bench.db"


# -- the workload ---------------------------------------------------------------------------------


class Recorder:
    """Latencies of fetch and complete calls, collected from every worker thread."""

    def __init__(self) -> None:
        self.fetch: list[float] = []
        self.complete: list[float] = []
        self.lock = threading.Lock()

    @contextmanager
    def timing(self, kind: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            getattr(self, kind).append(elapsed)


# -- CPU accounting (Linux /proc) -----------------------------------------------------------------


def machine_busy_seconds() -> float | None:
    """CPU time all cores have been busy since boot: neither idle nor waiting for I/O, nor given to
    other guests of the host (steal)."""
    try:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def process_tree_seconds(pid: int) -> float | None:
    """CPU time (user and system) of a live process and its live descendants; None if the process
    itself cannot be read. A thread or child that ends while it is read counts as nothing."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name may hold spaces and parentheses: the fields follow the last ')'.
            fields = stat.read().rpartition(")")[2].split()
        tasks = os.listdir(f"/proc/{pid}/task")
    except (OSError, ValueError):
        return None
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as listed:
                children = [int(child) for child in listed.read().split()]
        except OSError:
            continue
        total += sum(process_tree_seconds(child) or 0.0 for child in children)
    return total


@dataclass
class WorkerPhase:
    """What one run of the workers took: wall time, completions per task, and CPU time (None
    where it cannot be read)."""

    seconds: float
    done: Counter[str]
    machine_cpu_seconds: float | None = None
    engine_cpu_seconds: float | None = None

    def per_lifecycle_us(self, cpu_seconds: float | None) -> float | None:
        if cpu_seconds is None:
            return None
        return round(cpu_seconds / sum(self.done.values()) * 1e6, 1)

    @property
    def busy_pct(self) -> float | None:
        if self.machine_cpu_seconds is None:
            return None
        return round(100 * self.machine_cpu_seconds / (self.seconds * (os.cpu_count() or 1)), 1)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def run_workers(
    workers: int,
    tasks: int,
    fetch: Callable[[str], list[str]],
    complete: Callable[[str, str], None],
    recorder: Recorder,
    engine_cpu_seconds: Callable[[], float | None] = time.process_time,
) -> WorkerPhase:
    """W threads fetch and complete until ``tasks`` completions are done."""
    done = Counter()
    completed = 0  # how many completions so far: summing ``done`` on every one costs O(tasks)
    done_lock = threading.Lock()
    finished = threading.Event()
    errors: list[BaseException] = []

    def work(index: int) -> None:
        nonlocal completed
        worker_id = f"bench-worker-{index}"
        try:
            while not finished.is_set():
                with recorder.timing("fetch"):
                    locked = fetch(worker_id)
                if not locked:
                    finished.wait(0.002)  # the topic is momentarily empty: others hold the rest
                    continue
                for task_id in locked:
                    with recorder.timing("complete"):
                        complete(task_id, worker_id)
                    with done_lock:
                        done[task_id] += 1
                        completed += 1
                        if completed >= tasks:
                            finished.set()
        except BaseException as error:  # reported by the caller
            errors.append(error)
            finished.set()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    machine_before, engine_before = machine_busy_seconds(), engine_cpu_seconds()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    machine_after, engine_after = machine_busy_seconds(), engine_cpu_seconds()
    if errors:
        raise errors[0]
    return WorkerPhase(
        elapsed,
        done,
        machine_cpu_seconds=_spent(machine_before, machine_after),
        engine_cpu_seconds=_spent(engine_before, engine_after),
    )


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def run_service(url: str, args: argparse.Namespace, recorder: Recorder) -> WorkerPhase:
    engine = build_engine(url)
    service = engine.service
    try:
        for start in range(0, args.tasks, CREATE_BATCH):
            count = min(CREATE_BATCH, args.tasks - start)
            service.create_many(
                [NewExternalTask(topic_name=TOPICS[(start + i) % len(TOPICS)]) for i in range(count)]
            )
        topics = [FetchTopic(topic_name=t, lock_duration=LOCK_DURATION) for t in TOPICS]

        def fetch(worker_id: str) -> list[str]:
            request = FetchAndLockRequest(worker_id=worker_id, max_tasks=args.max_tasks, topics=topics)
            return [locked.task.id for locked in service.fetch_and_lock(request)]

        def complete(task_id: str, worker_id: str) -> None:
            service.complete(task_id, worker_id)

        return run_workers(args.workers, args.tasks, fetch, complete, recorder)
    finally:
        engine.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KeepAliveClient:
    """POSTs JSON to a server over one keep-alive ``http.client`` connection per thread. The
    benchmark's client shares the machine's two cores with the server it measures, so it should
    cost as little as a client can."""

    def __init__(self, base_url: str, timeout: float = 30) -> None:
        self._address = urlsplit(base_url)
        self._timeout = timeout
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []

    def post(self, path: str, body: dict) -> bytes:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(
                self._address.hostname, self._address.port, timeout=self._timeout
            )
            self._connections.append(connection)  # list.append: safe from any thread
        connection.request(
            "POST", self._address.path + path, body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"POST {path}: {response.status} {payload[:300]!r}")
        return payload

    def close(self) -> None:
        """Close every thread's connection; call it once the threads are done."""
        for connection in self._connections:
            connection.close()


def answers(base_url: str) -> bool:
    """Whether the server at ``base_url`` answers ``GET /version`` with 200."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=0.5)
    try:
        connection.request("GET", address.path + "/version")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def running_server(url: str, server_workers: int) -> Iterator[tuple[str, int]]:
    """The base URL and process id of a new ``extask serve``, stopped afterwards."""
    port = free_port()
    command = [
        sys.executable, "-m", "extask.infrastructure.cli", "serve", "--port", str(port),
        "--database-url", url, "--workers", str(server_workers),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/engine-rest"
    try:
        deadline = time.monotonic() + 30
        while not answers(base):
            if process.poll() is not None:
                raise RuntimeError(f"extask serve exited: {process.stderr.read().decode()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"extask serve did not answer at {base} within 30 s")
            time.sleep(0.1)  # polling a starting server's port: there is nothing to wait on
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def run_rest(url: str, args: argparse.Namespace, recorder: Recorder) -> WorkerPhase:
    with running_server(url, args.server_workers) as (base, server_pid):
        client = KeepAliveClient(base)
        for start in range(0, args.tasks, CREATE_BATCH):
            count = min(CREATE_BATCH, args.tasks - start)
            client.post("/external-task/create/batch", {"tasks": [{"topicName": TOPICS[(start + i) % len(TOPICS)]} for i in range(count)]})
        topics = [{"topicName": t, "lockDuration": LOCK_DURATION} for t in TOPICS]

        def fetch(worker_id: str) -> list[str]:
            tasks = json.loads(client.post("/external-task/fetchAndLock", {"workerId": worker_id, "maxTasks": args.max_tasks, "topics": topics}))
            return [task["id"] for task in tasks]

        def complete(task_id: str, worker_id: str) -> None:
            client.post(f"/external-task/{task_id}/complete", {"workerId": worker_id})

        try:
            return run_workers(
                args.workers, args.tasks, fetch, complete, recorder, lambda: process_tree_seconds(server_pid)
            )
        finally:
            client.close()


# -- verification from the event store ------------------------------------------------------------


def verify(url: str, tasks: int) -> None:
    """Every task has exactly one Completed event, and no Locked event while another worker held it."""
    engine = build_engine(url)
    try:
        completed: Counter[str] = Counter()
        holders: dict[str, tuple[str, object]] = {}
        position = 0
        while True:
            notifications = engine.event_store.recorder.select_notifications(
                start=position, limit=5000, inclusive_of_start=False
            )
            if not notifications:
                break
            for notification in notifications:
                event = engine.event_store.mapper.to_domain_event(notification)
                task_id = str(event.originator_id)
                name = type(event).__name__
                if name == "Completed":
                    completed[task_id] += 1
                elif name == "Locked":
                    previous = holders.get(task_id)
                    if previous and previous[0] != event.worker_id and previous[1] > event.timestamp:
                        raise AssertionError(f"task {task_id} locked by two workers at once")
                    holders[task_id] = (event.worker_id, event.lock_expiration_time)
            position = notifications[-1].id
        if len(completed) != tasks or set(completed.values()) != {1}:
            raise AssertionError(f"expected {tasks} tasks completed once each, got {len(completed)} / {Counter(completed.values())}")
    finally:
        engine.close()


# -- the baseline: a bare SQL queue ---------------------------------------------------------------


def baseline(url: str, args: argparse.Namespace) -> WorkerPhase:
    if url.startswith("sqlite"):
        return baseline_sqlite(url.removeprefix("sqlite:///"), args)
    return baseline_postgres(url, args)


def baseline_postgres(url: str, args: argparse.Namespace) -> WorkerPhase:
    parts = urlsplit(url)
    schema = dict(parse_qsl(parts.query))["schema"]
    dsn = urlunsplit(parts._replace(query=""))
    table = f'"{schema}".bench_queue'
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, topic text, worker text, done boolean DEFAULT false)")
        conn.execute(
            f"INSERT INTO {table} (topic) SELECT (ARRAY{TOPICS!r})[1 + g %% 4] FROM generate_series(1, %s) g",
            (args.tasks,),
        )
    local = threading.local()

    def connection() -> psycopg.Connection:
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(dsn)
        return local.conn

    def fetch(worker_id: str) -> list[str]:
        conn = connection()
        with conn.transaction():
            rows = conn.execute(
                f"UPDATE {table} SET worker = %s WHERE id IN (SELECT id FROM {table} WHERE worker IS NULL "
                f"AND topic = ANY(%s) FOR UPDATE SKIP LOCKED LIMIT %s) RETURNING id",
                (worker_id, TOPICS, args.max_tasks),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def complete(task_id: str, worker_id: str) -> None:
        conn = connection()
        with conn.transaction():
            conn.execute(f"UPDATE {table} SET done = true WHERE id = %s AND worker = %s", (int(task_id), worker_id))

    return run_workers(args.workers, args.tasks, fetch, complete, Recorder())


def baseline_sqlite(path: str, args: argparse.Namespace) -> WorkerPhase:
    queue = str(Path(path).with_name("baseline-queue.db"))
    with sqlite3.connect(queue) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, topic TEXT, worker TEXT, done INTEGER DEFAULT 0)")
        conn.executemany("INSERT INTO q (topic) VALUES (?)", [(TOPICS[i % 4],) for i in range(args.tasks)])
    local = threading.local()

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "conn"):
            local.conn = sqlite3.connect(queue, isolation_level=None, timeout=30)
        return local.conn

    def fetch(worker_id: str) -> list[str]:
        conn = connection()
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "UPDATE q SET worker = ? WHERE id IN (SELECT id FROM q WHERE worker IS NULL LIMIT ?) RETURNING id",
            (worker_id, args.max_tasks),
        ).fetchall()
        conn.execute("COMMIT")
        return [str(row[0]) for row in rows]

    def complete(task_id: str, worker_id: str) -> None:
        connection().execute("UPDATE q SET done = 1 WHERE id = ? AND worker = ?", (int(task_id), worker_id))

    return run_workers(args.workers, args.tasks, fetch, complete, Recorder())


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["service", "rest"], default="service")
    parser.add_argument("--database-url", default=os.environ.get("EXTASK_DATABASE_URL", "sqlite:///extask.db"))
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--max-tasks", type=int, default=50)
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with fresh_database(args.database_url) as url:
        recorder = Recorder()
        runner = run_service if args.mode == "service" else run_rest
        phase = runner(url, args, recorder)
        verify(url, args.tasks)
        queue = baseline(url, args)
    rate = args.tasks / phase.seconds
    baseline_rate = args.tasks / queue.seconds
    result = {
        "mode": args.mode,
        "database": "postgres" if args.database_url.startswith("postgres") else "sqlite",
        "tasks": args.tasks,
        "workers": args.workers,
        "max_tasks": args.max_tasks,
        "lifecycles_per_s": round(rate, 1),
        "fetch_p50_ms": round(percentile(recorder.fetch, 50), 2),
        "fetch_p99_ms": round(percentile(recorder.fetch, 99), 2),
        "complete_p50_ms": round(percentile(recorder.complete, 50), 2),
        "complete_p99_ms": round(percentile(recorder.complete, 99), 2),
        "baseline_lifecycles_per_s": round(baseline_rate, 1),
        "ratio": round(rate / baseline_rate, 3),
        "cpu_us_per_lifecycle": phase.per_lifecycle_us(phase.machine_cpu_seconds),
        "cpu_busy_pct": phase.busy_pct,
        "engine_cpu_us_per_lifecycle": phase.per_lifecycle_us(phase.engine_cpu_seconds),
        "baseline_cpu_us_per_lifecycle": queue.per_lifecycle_us(queue.machine_cpu_seconds),
        "baseline_cpu_busy_pct": queue.busy_pct,
        "baseline_client_cpu_us_per_lifecycle": queue.per_lifecycle_us(queue.engine_cpu_seconds),
    }
    if args.mode == "rest":
        result["server_workers"] = args.server_workers
    if args.json:
        print(json.dumps(result))
    else:
        width = max(map(len, result))
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
