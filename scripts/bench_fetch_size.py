"""Fetch-and-lock latency as the runtime table grows, with the query plan that serves it.

    python scripts/bench_fetch_size.py --database-url postgresql://postgres@127.0.0.1:5432/test \
        [--sizes 10000,100000,1000000] [--fetches 200] [--max-tasks 50] [--json]

For each size it fills a fresh schema with that many tasks over 20 topics (half of them locked by
another worker, as in a busy system), then times ``--fetches`` fetch-and-lock calls of
``--max-tasks`` tasks on one topic and prints p50/p99, plus PostgreSQL's plan for the candidate
query, so you can see it is index-driven.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for scripts.bench; extask itself comes from the install

from extask.application.dto import FetchAndLockRequest, FetchTopic  # noqa: E402
from extask.domain.external_task import ExternalTask  # noqa: E402
from extask.infrastructure.bootstrap import build_engine  # noqa: E402
from scripts.bench import fresh_database  # noqa: E402

TOPICS = [f"size-{i}" for i in range(20)]
CREATE_BATCH = 2_000


def fill(engine, size: int) -> None:
    """``size`` tasks over the topics, every other one locked by a busy worker for an hour.

    The tasks are made and locked through the domain model and committed in large groups, as a
    busy system would have made them over time: locking half a million through fetch-and-lock
    one request at a time would take longer than the measurement is worth. Their process
    instances are not made: fetch-and-lock reads only their variables, and there are none. The
    event store's cache keeps the last 100,000 tasks, as it would after creating them.
    """
    now = engine.service._now()
    for start in range(0, size, CREATE_BATCH):
        group = []
        for index in range(start, min(start + CREATE_BATCH, size)):
            task = ExternalTask.create(now=now, topic_name=TOPICS[index % len(TOPICS)], process_instance_id=f"pi-{index}")
            if (index // len(TOPICS)) % 2:
                task.fetch_lock("busy", 3_600_000, now)
            group.append(task)
        if not all(engine.event_store.commit([group])):
            raise RuntimeError("a group was refused while filling an empty store")


def measure(url: str, size: int, fetches: int, max_tasks: int) -> dict:
    engine = build_engine(url)
    try:
        started = time.perf_counter()
        fill(engine, size)
        filled = time.perf_counter() - started
        with engine.event_store.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute("ANALYZE")
        requests = [
            FetchAndLockRequest(
                worker_id="measured", max_tasks=max_tasks, topics=[FetchTopic(topic_name=topic, lock_duration=60_000)]
            )
            for topic in TOPICS
        ]
        query_plan = engine.runtime.explain_fetchable(requests[0], engine.service._now())
        # Every measured fetch must find a full batch: rotate over the topics, and stop before
        # the free half of the table runs out.
        fetches = min(fetches, size // 2 // max_tasks)
        latencies = []
        for index in range(fetches):
            t = time.perf_counter()
            locked = engine.service.fetch_and_lock(requests[index % len(requests)])
            latencies.append((time.perf_counter() - t) * 1000)
            assert len(locked) == max_tasks, f"fetch {index} found {len(locked)} tasks"
        quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
        return {
            "tasks": size, "fill_s": round(filled, 1), "fetches": fetches, "max_tasks": max_tasks,
            "fetch_p50_ms": round(quantiles[49], 2), "fetch_p99_ms": round(quantiles[98], 2),
            "plan": query_plan,
        }
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--fetches", type=int, default=200)
    parser.add_argument("--max-tasks", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        with fresh_database(args.database_url) as url:
            result = measure(url, size, args.fetches, args.max_tasks)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{size:>9} tasks  fetch p50 {result['fetch_p50_ms']:7.2f} ms  p99 {result['fetch_p99_ms']:7.2f} ms"
                  f"  (filled in {result['fill_s']} s)")
            print("  " + result["plan"].replace("\n", "\n  "))


if __name__ == "__main__":
    main()
