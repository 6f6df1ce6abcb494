"""Competing workers in several processes on PostgreSQL, read back from the event store.

Sixteen workers in four processes drain 2,000 tasks; a worker killed while holding tasks loses
them to the others once its locks expire.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter, defaultdict

import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.infrastructure.bootstrap import build_engine

pytestmark = pytest.mark.postgres

TOPIC = "competing"


def fetch_request(worker: str, max_tasks: int, lock_duration: int) -> FetchAndLockRequest:
    return FetchAndLockRequest(
        worker_id=worker, max_tasks=max_tasks, topics=[FetchTopic(topic_name=TOPIC, lock_duration=lock_duration)]
    )


def worker_process(url: str, process_index: int, threads: int, results) -> None:
    """Four worker threads fetch and complete until the topic stays empty."""
    # A worker that hangs prints every thread's stack instead of leaving the test to time out blind.
    faulthandler.dump_traceback_later(60, exit=True)
    engine = build_engine(url)
    completed: dict[str, list[str]] = defaultdict(list)

    def work(worker: str) -> None:
        empty_in_a_row = 0
        while empty_in_a_row < 3:
            batch = engine.service.fetch_and_lock(fetch_request(worker, 10, 60_000))
            if not batch:
                empty_in_a_row += 1
                continue
            empty_in_a_row = 0
            for locked in batch:
                engine.service.complete(locked.task.id, worker)
                completed[worker].append(locked.task.id)

    workers = [threading.Thread(target=work, args=(f"p{process_index}-w{i}",)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    engine.close()
    results.put(dict(completed))


def events(engine) -> list:
    found, position = [], 0
    while notifications := engine.event_store.recorder.select_notifications(
        start=position, limit=5000, inclusive_of_start=False
    ):
        found += [engine.event_store.mapper.to_domain_event(n) for n in notifications]
        position = notifications[-1].id
    return found


def assert_never_held_by_two_workers(all_events) -> None:
    holder: dict[str, tuple[str, object]] = {}
    for event in all_events:
        if type(event).__name__ == "Locked":
            task = str(event.originator_id)
            if task in holder and holder[task][0] != event.worker_id:
                assert event.timestamp >= holder[task][1], f"{task} locked by two workers at once"
            holder[task] = (event.worker_id, event.lock_expiration_time)


def test_sixteen_workers_in_four_processes_complete_every_task_exactly_once(postgres_schema_url):
    engine = build_engine(postgres_schema_url)
    engine.service.create_many([NewExternalTask(topic_name=TOPIC) for _ in range(2_000)])
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=worker_process, args=(postgres_schema_url, index, 4, results)) for index in range(4)
    ]
    for process in processes:
        process.start()
    per_worker: dict[str, list[str]] = {}
    for _ in processes:
        per_worker.update(results.get(timeout=120))
    for process in processes:
        process.join(timeout=30)

    all_events = events(engine)
    completions = Counter(str(e.originator_id) for e in all_events if type(e).__name__ == "Completed")
    assert len(completions) == 2_000 and set(completions.values()) == {1}
    assert_never_held_by_two_workers(all_events)
    assert len(per_worker) == 16 and all(per_worker.values()), {w: len(t) for w, t in per_worker.items()}
    engine.close()


def hold_tasks_and_wait(url: str, ready) -> None:
    """Lock 20 tasks for one second, say so, then hang until killed."""
    engine = build_engine(url)
    locked = engine.service.fetch_and_lock(fetch_request("doomed", 20, 1_000))
    ready.put([t.task.id for t in locked])
    threading.Event().wait()


def test_a_killed_worker_loses_its_tasks_to_others_when_its_locks_expire(postgres_schema_url):
    engine = build_engine(postgres_schema_url)
    engine.service.create_many([NewExternalTask(topic_name=TOPIC) for _ in range(20)])
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    doomed = context.Process(target=hold_tasks_and_wait, args=(postgres_schema_url, ready))
    doomed.start()
    held = ready.get(timeout=60)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.join(timeout=10)
    assert len(held) == 20

    assert engine.service.fetch_and_lock(fetch_request("survivor", 20, 60_000)) == []
    expiry = max(engine.service.get_task(task_id).lock_expiration_time for task_id in held)
    # Wait out the lock: the moment is known, there is no event to wait for.
    time.sleep(max(0.0, (expiry - engine.service._now()).total_seconds()) + 0.01)
    taken = engine.service.fetch_and_lock(fetch_request("survivor", 20, 60_000))

    assert sorted(t.task.id for t in taken) == sorted(held)
    assert {t.task.worker_id for t in taken} == {"survivor"}
    engine.close()
