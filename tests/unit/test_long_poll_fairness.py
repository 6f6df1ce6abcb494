"""Long polling that one client cannot spoil for the others (application/long_polling.py), with the
scripted waiters, signal and store of test_long_poller.

* A client (its network address) holds at most ``max_parked_per_client`` of the parked polls.
* A poll whose client went away while its fetch ran gives the tasks back instead of answering
  nobody.
* The shared check after a wake-up names a bounded number of topics per query, and when it fails
  it backs off instead of waking every poll again and again.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from extask.application.long_polling import (
    CHECK_BACKOFF_SECONDS,
    CHECK_TOPICS_PER_QUERY,
    LongPoller,
    PollRejectedByShutdown,
    TooManyParkedPolls,
    TooManyParkedPollsOfClient,
)
from tests.unit.long_poll_fakes import REQUEST, TASK, ScriptedSignal, Store, Time, direct, request_for

WAIT = 5.0  # s: the most a step below waits for the checker thread


def make_poller(store: Store, signal: ScriptedSignal, time: Time, run_sync=direct, **options) -> LongPoller:
    return LongPoller(
        store.fetch, store.next_availability, store.earliest_by_topic, signal, time.clock,
        run_sync=run_sync, monotonic=time.monotonic, new_waiter=signal.new_waiter, **options,
    )


async def park(poller: LongPoller, client: str | None, count: int = 1) -> list[asyncio.Future]:
    before = poller.parked
    polls = [asyncio.ensure_future(poller.fetch_and_lock(REQUEST, 60_000, client=client)) for _ in range(count)]
    while poller.parked < before + count:
        await asyncio.sleep(0)
    return polls


class TestOneClientsShareOfTheSlots:
    def test_a_poll_beyond_its_clients_share_is_refused_while_another_client_still_parks(self, store, signal, time):
        poller = make_poller(store, signal, time, max_parked=4, max_parked_per_client=2)

        async def scenario():
            greedy = await park(poller, "10.0.0.1", 2)
            with pytest.raises(TooManyParkedPollsOfClient) as refused:
                await poller.fetch_and_lock(REQUEST, 60_000, client="10.0.0.1")
            [other] = await park(poller, "10.0.0.2")
            store.fetchable = [TASK, TASK, TASK]
            for waiter in signal.waiters:
                waiter.wake()
            return refused.value, await asyncio.gather(*greedy, other)

        refused, answers = asyncio.run(scenario())
        assert (refused.camunda_type, refused.message) == (
            "InvalidRequestException",
            "At the moment the server has to handle too many requests of this client at the same time: it holds "
            "2 long polls, the most one client may hold (max_parked_per_client). Please try again later.",
        )
        assert isinstance(refused, TooManyParkedPolls)  # answered as any full queue is
        assert answers == [[TASK], [TASK], [TASK]]
        assert poller.parked == 0

    def test_a_slot_a_client_leaves_is_its_own_again(self, store, signal, time):
        poller = make_poller(store, signal, time, max_parked=4, max_parked_per_client=1)

        async def scenario():
            [first] = await park(poller, "10.0.0.1")
            store.fetchable = [TASK]
            signal.waiters[0].wake()
            assert await first == [TASK]
            [second] = await park(poller, "10.0.0.1")  # refused were the first still counted
            poller.reject_parked()
            with pytest.raises(PollRejectedByShutdown):
                await second

        asyncio.run(scenario())
        assert poller.parked == 0

    def test_the_bound_of_the_whole_process_is_told_first(self, store, signal, time):
        poller = make_poller(store, signal, time, max_parked=1, max_parked_per_client=1)

        async def scenario():
            [held] = await park(poller, "10.0.0.1")
            with pytest.raises(TooManyParkedPolls) as refused:
                await poller.fetch_and_lock(REQUEST, 60_000, client="10.0.0.1")
            poller.reject_parked()
            with pytest.raises(PollRejectedByShutdown):
                await held
            return refused.value

        assert type(asyncio.run(scenario())) is TooManyParkedPolls

    def test_polls_of_nobody_in_particular_take_no_clients_share(self, store, signal, time):
        """An application embedding the engine polls without a client."""
        poller = make_poller(store, signal, time, max_parked=3, max_parked_per_client=1)

        async def scenario():
            polls = await park(poller, None, 3)
            poller.reject_parked()
            await asyncio.gather(*polls, return_exceptions=True)

        asyncio.run(scenario())

    @pytest.mark.parametrize("max_parked, share", [(200, 50), (8, 2), (3, 1), (1, 1)])
    def test_by_default_a_client_may_hold_a_quarter_of_the_slots(self, store, signal, time, max_parked, share):
        assert make_poller(store, signal, time, max_parked=max_parked).max_parked_per_client == share


class TestAClientGoneWhileItsFetchRan:
    """The tasks a fetch locked after its client left are given back, not answered to nobody."""

    def scenario(self, store, signal, time, parked_first: bool):
        gone = asyncio.Event()
        given_back: list = []

        async def fetch_then_look_around(function, *args):
            result = function(*args)
            if function == store.fetch and store.fetches == (2 if parked_first else 1):
                gone.set()  # the client leaves while this fetch runs
                for _ in range(3):
                    await asyncio.sleep(0)
            return result

        poller = make_poller(store, signal, time, run_sync=fetch_then_look_around, max_parked=2)
        if not parked_first:
            store.fetchable = [TASK]
        else:
            signal.script = [("wake", 1.0)]
            signal.on_wake = lambda: store.fetchable.append(TASK)

        async def run():
            return await poller.fetch_and_lock(
                REQUEST, 60_000, disconnected=gone.wait, client="10.0.0.1", give_back=given_back.extend
            )

        return asyncio.run(run()), given_back, poller

    def test_while_its_first_try_ran(self, store, signal, time):
        answer, given_back, poller = self.scenario(store, signal, time, parked_first=False)
        assert (answer, given_back) == ([], [TASK])
        assert poller.parked == 0

    def test_while_it_was_parked(self, store, signal, time):
        answer, given_back, poller = self.scenario(store, signal, time, parked_first=True)
        assert (answer, given_back) == ([], [TASK])
        assert store.fetches == 2 and poller.parked == 0

    def test_a_client_still_there_gets_its_tasks(self, store, signal, time):
        poller = make_poller(store, signal, time, max_parked=2)
        store.fetchable = [TASK]
        given_back: list = []
        never = asyncio.Event()
        answer = asyncio.run(
            poller.fetch_and_lock(REQUEST, 60_000, disconnected=never.wait, give_back=given_back.extend)
        )
        assert (answer, given_back) == ([TASK], [])


class TestTheSharedChecksCost:
    def test_each_query_names_a_bounded_number_of_topics_and_all_are_asked(self, store, signal, time):
        poller = make_poller(store, signal, time, max_parked=3)
        names = [[f"p{p}-t{t}" for t in range(CHECK_TOPICS_PER_QUERY)] for p in range(3)]

        async def scenario():
            polls = [asyncio.ensure_future(poller.fetch_and_lock(request_for(*topics), 60_000)) for topics in names]
            while poller.waiting < 3:
                await asyncio.sleep(0)
            poller.check()
            poller.reject_parked()
            await asyncio.gather(*polls, return_exceptions=True)

        asyncio.run(scenario())
        assert [len(query) for query in store.checks] == [CHECK_TOPICS_PER_QUERY] * 3
        assert sorted(name for query in store.checks for name in query) == sorted(n for ts in names for n in ts)

    def test_a_failing_check_backs_off_doubling_instead_of_waking_every_poll_in_a_loop(self, store, signal, time):
        store.earliest_by_topic = _failing  # type: ignore[method-assign]
        pauses = Pauses()
        poller = make_poller(store, signal, time, max_parked=2, pause=pauses)
        asyncio.run(pauses.after_checks(poller, signal, polls=2, checks=8))
        first, longest = CHECK_BACKOFF_SECONDS
        assert pauses.seconds == [min(longest, first * 2**n) for n in range(8)]
        assert poller.failed_checks == 8

    def test_a_check_that_works_again_starts_the_back_off_afresh(self, store, signal, time):
        working = store.earliest_by_topic
        outcomes = iter([_failing, _failing, working, _failing])
        store.earliest_by_topic = lambda names: next(outcomes)(names)  # type: ignore[method-assign]
        pauses = Pauses()
        poller = make_poller(store, signal, time, max_parked=1, pause=pauses)
        asyncio.run(pauses.after_checks(poller, signal, polls=1, checks=4))
        first, _ = CHECK_BACKOFF_SECONDS
        assert pauses.seconds[:2] == [first, 2 * first] and pauses.seconds[3] == first
        # After a check that worked: a rest as long as the check took (three times), on the poller's
        # clock, which the test holds still.
        assert pauses.seconds[2] == 0


class Pauses:
    """The rests the shared check takes after each run, recorded as it takes them."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._taken = threading.Semaphore(0)

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self._taken.release()

    async def after_checks(self, poller: LongPoller, signal: ScriptedSignal, polls: int, checks: int) -> None:
        """Park ``polls`` polls, then tell the signal ``checks`` times, each once the check rested."""
        parked = [asyncio.ensure_future(poller.fetch_and_lock(request_for("t"), 60_000)) for _ in range(polls)]
        while poller.waiting < polls:
            await asyncio.sleep(0)
        for _ in range(checks):
            signal.notify()
            assert await asyncio.to_thread(self._taken.acquire, True, WAIT)
        poller.shutdown()
        await asyncio.gather(*parked, return_exceptions=True)


def _failing(names):
    raise RuntimeError("the read model is unreachable")
