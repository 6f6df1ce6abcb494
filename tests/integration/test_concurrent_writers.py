"""Concurrent commands on real threads: a save that loses to a concurrent writer is retried on
fresh state, and competing fetches hand every task to exactly one worker.
"""

from __future__ import annotations

from collections import Counter
from uuid import UUID
from concurrent.futures import ThreadPoolExecutor

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask


def test_commands_racing_on_one_task_all_get_through(service, engine):
    """Eight threads change one task's priority; each change lands, none reaches the caller as a conflict."""
    task = service.create(NewExternalTask(topic_name="race"))

    def bump(thread: int) -> None:
        for attempt in range(10):
            service.set_priority(task.id, thread * 100 + attempt)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(bump, range(8)))

    stored = engine.event_store.repository.get(UUID(task.id))
    assert stored.version == 1 + 8 * 10


def test_competing_fetches_lock_each_task_exactly_once(service, engine):
    """Eight workers fetch until the topic is drained; no task is handed out twice and none is lost."""
    service.create_many([NewExternalTask(topic_name="competing") for _ in range(60)])

    def drain(worker: int) -> list[str]:
        got: list[str] = []
        while True:
            batch = service.fetch_and_lock(
                FetchAndLockRequest(
                    worker_id=f"worker-{worker}",
                    max_tasks=5,
                    topics=[FetchTopic(topic_name="competing", lock_duration=600_000)],
                )
            )
            if not batch and not engine.runtime.select_fetchable(
                FetchAndLockRequest(
                    worker_id="probe", max_tasks=1,
                    topics=[FetchTopic(topic_name="competing", lock_duration=1)],
                ),
                service._now(),
            ):
                return got
            got += [locked.task.id for locked in batch]

    with ThreadPoolExecutor(max_workers=8) as pool:
        handed_out = [task_id for batch in pool.map(drain, range(8)) for task_id in batch]

    assert len(handed_out) == 60
    assert Counter(handed_out).most_common(1)[0][1] == 1
