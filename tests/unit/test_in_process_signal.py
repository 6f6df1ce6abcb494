"""The in-process wake-up broadcast and a parked poll's waiter, without a database."""

from __future__ import annotations

import asyncio
import threading

from extask.application.async_waiter import AsyncWaiter
from extask.infrastructure.notifications import InProcessSignal

BOUND = 5.0  # seconds; every wait below ends long before unless something is broken


def test_notify_calls_every_listener_and_survives_a_failing_one():
    signal, calls = InProcessSignal(), []
    signal.add_listener(lambda: calls.append("first"))
    signal.add_listener(lambda: 1 / 0)
    signal.add_listener(lambda: calls.append("third"))
    signal.notify()
    assert calls == ["first", "third"]


def test_a_waiter_is_woken_from_another_thread():
    async def scenario():
        waiter = AsyncWaiter()
        threading.Thread(target=waiter.wake).start()
        return await waiter.wait(BOUND)

    assert asyncio.run(scenario()) is True


def test_a_wake_up_before_the_wait_is_not_lost_and_is_seen_once():
    async def scenario():
        waiter = AsyncWaiter()
        waiter.wake()
        await asyncio.sleep(0)  # let the hand-over to the loop run
        return await waiter.wait(BOUND), await waiter.wait(0.01)

    assert asyncio.run(scenario()) == (True, False)


def test_a_wait_without_wake_up_times_out():
    async def scenario():
        return await AsyncWaiter().wait(0.01)

    assert asyncio.run(scenario()) is False


def test_waking_a_waiter_whose_loop_has_closed_is_harmless():
    async def scenario():
        return AsyncWaiter()

    asyncio.run(scenario()).wake()
