"""The history projection catches up a page of events at a time, bounded by count and by bytes
(``next_notifications``): large events are read a few at a time, one larger than the budget
alone, and the pages together are every event in order, as one unbounded read gives them. On
both backends.
"""

from __future__ import annotations

from extask.application.dto import NewExternalTask
from extask.infrastructure.persistence.history_projection import HISTORY_PAGE_EVENTS, next_notifications

TEXT = 20_000


def create(engine, count: int, text: int = 0) -> None:
    engine.service.create_many(
        [NewExternalTask(topic_name="topic", local_variables={"document": "d" * text} if text else {}) for _ in range(count)]
    )


def pages(recorder, max_bytes: int, limit: int = HISTORY_PAGE_EVENTS) -> list[list]:
    found, position = [], 0
    while page := next_notifications(recorder, position, limit=limit, max_bytes=max_bytes):
        found.append(page)
        position = page[-1].id
    return found


def stored_bytes(notifications) -> int:
    return sum(len(notification.state) for notification in notifications)


def test_large_events_are_read_a_few_at_a_time_within_the_budget(engine):
    create(engine, 10, text=TEXT)  # each task's Created event holds its 20 kB variable
    recorder = engine.event_store.recorder
    budget = 3 * TEXT
    found = pages(recorder, max_bytes=budget)
    everything = recorder.select_notifications(0, limit=10_000, inclusive_of_start=False)
    assert [n.id for page in found for n in page] == [n.id for n in everything]
    assert [n.state for page in found for n in page] == [n.state for n in everything]
    for page, following in zip(found, found[1:]):
        assert stored_bytes(page) <= budget < stored_bytes([*page, following[0]])
    assert max(len(page) for page in found) < len(everything)


def test_an_event_larger_than_the_budget_is_read_alone(engine):
    create(engine, 1)
    create(engine, 1, text=TEXT)
    recorder = engine.event_store.recorder
    found = pages(recorder, max_bytes=TEXT // 2)
    large = [page for page in found if stored_bytes(page) > TEXT]
    assert [len(page) for page in large] == [1]


def test_small_events_are_read_as_many_as_the_page_holds(engine):
    create(engine, 25)  # 50 events: each task starts a process instance of its own
    recorder = engine.event_store.recorder
    assert [len(page) for page in pages(recorder, max_bytes=16 * 1024 * 1024, limit=20)] == [20, 20, 10]
