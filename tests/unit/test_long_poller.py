"""The long-polling logic (application/long_polling.py) with scripted waiters and a fake clock.

Nothing here waits for real time: a scripted waiter records how long the poller asked to wait
and answers as the scenario says (woken, or timed out after the full wait), moving the fake
clock on by the time that passed. With no script left it blocks until woken (by a check, a
shutdown or a disconnect), which is how scenarios hold several polls at once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic
from extask.application.errors import BadRequest
from extask.application.long_polling import LongPoller, PollRejectedByShutdown, TooManyParkedPolls
from tests.unit.long_poll_fakes import REQUEST, START, TASK, direct, request_for

@pytest.fixture
def poller(store, signal, time) -> LongPoller:
    return LongPoller(
        store.fetch, store.next_availability, store.earliest_by_topic, signal, time.clock,
        max_parked=2, run_sync=direct, monotonic=time.monotonic, new_waiter=signal.new_waiter,
    )


def poll(poller: LongPoller, timeout_ms: int | None, request: FetchAndLockRequest = REQUEST, **kwargs):
    return asyncio.run(poller.fetch_and_lock(request, timeout_ms, **kwargs))


async def parked_polls(poller: LongPoller, count: int) -> list[asyncio.Future]:
    """``count`` polls with a long timeout, on the running loop, once all of them are parked."""
    polls = [asyncio.ensure_future(poller.fetch_and_lock(REQUEST, 60_000)) for _ in range(count)]
    while poller.parked < count:
        await asyncio.sleep(0)
    return polls


class TestAnsweredAtOnce:
    def test_tasks_found_at_once_are_answered_without_parking(self, poller, store, signal):
        store.fetchable = [TASK]
        assert poll(poller, 10_000) == [TASK]
        assert signal.waits == [] and store.expiry_queries == []
        assert poller.parked == 0 and poller.check() == 0  # nothing watched any more

    @pytest.mark.parametrize("timeout_ms", [None, 0, -5])
    def test_no_tasks_and_no_timeout_answers_empty_at_once(self, poller, store, signal, timeout_ms):
        assert poll(poller, timeout_ms) == []
        assert store.fetches == 1
        assert signal.waiters == [] and signal.waits == []

    def test_bad_input_is_refused_at_once(self, poller, store, signal):
        store.error = BadRequest("workerId is null", "NullValueException")
        with pytest.raises(BadRequest):
            poll(poller, 10_000)
        assert signal.waits == [] and poller.parked == 0 and poller.check() == 0


class TestParked:
    def test_nothing_happens_until_the_timeout_answers_empty(self, poller, store, signal, time):
        signal.script = ["timeout"]
        assert poll(poller, 5_000) == []
        assert signal.waits == [5.0]
        assert store.fetches == 1  # the first try; no fetch at the timeout
        assert len(store.expiry_queries) == 1
        assert time.elapsed == 5.0

    def test_a_wake_up_fetches_again_and_answers_with_the_task(self, poller, store, signal):
        signal.script = [("wake", 1.5)]
        signal.on_wake = lambda: store.fetchable.append(TASK)
        assert poll(poller, 5_000) == [TASK]
        assert store.fetches == 2
        assert poller.parked == 0

    def test_a_wake_up_for_someone_else_parks_again_for_the_rest_of_the_timeout(self, poller, store, signal):
        signal.script = [("wake", 2.0), "timeout"]
        assert poll(poller, 5_000) == []
        assert signal.waits == [5.0, 3.0]
        assert store.fetches == 2 and len(store.expiry_queries) == 2

    def test_waits_only_until_the_next_lock_or_retry_timeout_expiry(self, poller, store, signal, time):
        store.expiring_at = START + timedelta(seconds=2)
        signal.script = ["timeout"]
        assert poll(poller, 10_000) == [TASK]
        assert signal.waits == [2.0]
        assert store.expiry_queries == [(["t"], START)]
        assert time.elapsed == 2.0

    def test_an_expiry_after_the_timeout_does_not_extend_it(self, poller, store, signal):
        store.expiring_at = START + timedelta(seconds=20)
        signal.script = ["timeout"]
        assert poll(poller, 10_000) == []
        assert signal.waits == [10.0]

    def test_the_expiry_query_asks_for_each_topic_once(self, poller, store, signal):
        request = FetchAndLockRequest(
            worker_id="w", max_tasks=1,
            topics=[FetchTopic("a", 1000), FetchTopic("b", 1000), FetchTopic("a", 2000, business_key="k")],
        )
        signal.script = ["timeout"]
        poll(poller, 1_000, request)
        assert store.expiry_queries == [(["a", "b"], START)]


class TestLimitsAndShutdown:
    def test_beyond_the_bound_polls_are_refused_with_camundas_error(self, poller, store, signal):
        async def scenario():
            first, second = await parked_polls(poller, 2)
            with pytest.raises(TooManyParkedPolls) as refused:
                await poller.fetch_and_lock(REQUEST, 60_000)
            store.fetchable = [TASK, TASK]
            for waiter in signal.waiters[:2]:
                waiter.wake()
            return refused.value, await asyncio.gather(first, second)

        refused, answers = asyncio.run(scenario())
        assert (refused.camunda_type, refused.message) == (
            "InvalidRequestException",
            "At the moment the server has to handle too many requests at the same time. Please try again later.",
        )
        assert answers == [[TASK], [TASK]]
        assert poller.parked == 0

    def test_shutdown_answers_parked_polls_and_refuses_new_ones(self, poller, store, signal):
        async def scenario():
            [parked] = await parked_polls(poller, 1)
            assert poller.reject_parked() == 1
            with pytest.raises(PollRejectedByShutdown):
                await parked
            with pytest.raises(PollRejectedByShutdown):
                await poller.fetch_and_lock(REQUEST, 60_000)
            store.fetchable = [TASK]
            assert await poller.fetch_and_lock(REQUEST, 60_000) == [TASK]  # tasks still go out

        asyncio.run(scenario())
        assert PollRejectedByShutdown().message == "Request rejected due to shutdown of application server."
        assert poller.parked == 0

    def test_start_accepts_parked_polls_again_and_starts_the_signal(self, poller, signal):
        poller.shutdown()
        assert signal.stopped == 1
        poller.start()
        assert signal.started == 1
        signal.script = ["timeout"]
        assert poll(poller, 1_000) == []

    def test_a_client_that_went_away_stops_the_wait_without_another_fetch(self, poller, store, signal):
        async def scenario():
            gone = asyncio.Event()
            parked = asyncio.ensure_future(poller.fetch_and_lock(REQUEST, 60_000, disconnected=gone.wait))
            while poller.parked < 1:
                await asyncio.sleep(0)
            store.fetchable = [TASK]
            gone.set()
            return await parked

        assert asyncio.run(scenario()) == []
        assert store.fetches == 1 and store.fetchable == [TASK]


class TestTellingTheSignalWhilePollsAreParked:
    """A signal that looks for other processes' commits (SQLite) looks only while polls are parked."""

    def test_the_first_poll_to_park_and_the_last_to_leave_are_told(self, poller, store, signal):
        async def scenario():
            first, second = await parked_polls(poller, 2)
            told_while_parked = list(signal.parked_changes)
            store.fetchable = [TASK]
            signal.waiters[0].wake()
            await first
            told_with_one_left = list(signal.parked_changes)
            store.fetchable = [TASK]
            signal.waiters[1].wake()
            await second
            return told_while_parked, told_with_one_left

        assert asyncio.run(scenario()) == ([True], [True])
        assert signal.parked_changes == [True, False]

    def test_a_poll_answered_at_once_or_refused_tells_nothing(self, poller, store, signal):
        store.fetchable = [TASK]
        poll(poller, 10_000)
        store.error = BadRequest("workerId is null", "NullValueException")
        with pytest.raises(BadRequest):
            poll(poller, 10_000)
        assert signal.parked_changes == []

    def test_a_poll_that_ends_at_its_timeout_or_by_shutdown_says_it_left(self, poller, signal):
        signal.script = ["timeout"]
        assert poll(poller, 1_000) == []
        assert signal.parked_changes == [True, False]

        async def rejected():
            [parked] = await parked_polls(poller, 1)
            poller.reject_parked()
            with pytest.raises(PollRejectedByShutdown):
                await parked

        asyncio.run(rejected())
        assert signal.parked_changes == [True, False, True, False]


class TestSharedCheck:
    """After a wake-up one query serves every parked poll; only those that may find a task wake."""

    def test_one_query_wakes_only_the_polls_whose_topics_have_a_fetchable_task(self, poller, store, signal):
        async def scenario():
            idle = asyncio.ensure_future(poller.fetch_and_lock(request_for("idle"), 60_000))
            busy = asyncio.ensure_future(poller.fetch_and_lock(request_for("busy", "other"), 60_000))
            while poller.waiting < 2:
                await asyncio.sleep(0)
            store.earliest = {"busy": START - timedelta(days=1)}  # an unlocked task
            store.fetchable = [TASK]
            assert poller.check() == 1
            assert await busy == [TASK]
            assert not idle.done()
            poller.reject_parked()
            with pytest.raises(PollRejectedByShutdown):
                await idle

        asyncio.run(scenario())
        assert store.checks == [["busy", "idle", "other"]]

    def test_an_expiry_sooner_than_planned_wakes_the_poll_to_plan_again(self, poller, store, signal):
        async def scenario():
            parked = asyncio.ensure_future(poller.fetch_and_lock(request_for("t"), 60_000))
            while poller.waiting < 1:
                await asyncio.sleep(0)
            assert signal.waits == [60.0]
            store.earliest = {"t": START + timedelta(seconds=90)}  # later than the timeout: no wake
            assert poller.check() == 0
            store.earliest = {"t": START + timedelta(seconds=5)}  # e.g. a failure with retryTimeout 5 s
            store.expiring_at = START + timedelta(seconds=5)
            assert poller.check() == 1
            while poller.waiting < 1 or len(signal.waits) < 2:
                await asyncio.sleep(0)
            assert signal.waits == [60.0, 5.0]  # re-planned: its own expiry query says 5 s
            poller.reject_parked()
            with pytest.raises(PollRejectedByShutdown):
                await parked

        asyncio.run(scenario())

    def test_no_parked_polls_no_query(self, poller, store):
        assert poller.check() == 0
        assert store.checks == []

    def test_a_notification_is_checked_on_the_checker_thread(self, poller, store, signal):
        async def scenario():
            parked = asyncio.ensure_future(poller.fetch_and_lock(request_for("t"), 60_000))
            while poller.waiting < 1:
                await asyncio.sleep(0)
            signal.notify()
            assert await asyncio.to_thread(store.checked.wait, 5.0)
            poller.shutdown()
            with pytest.raises(PollRejectedByShutdown):
                await parked

        asyncio.run(scenario())
        assert signal.stopped == 1
