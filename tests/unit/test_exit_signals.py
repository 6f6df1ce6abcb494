"""Acting the moment a server is told to stop: ``on_exit_signals`` and the app's lifespan, which
stops running batches at SIGTERM instead of once every open request has finished.

Each test puts a Python handler on SIGTERM, as uvicorn does, sends the signal to its own process
and puts the process's handler back afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from extask.infrastructure.rest.app import create_app
from extask.infrastructure.rest.exit_signals import on_exit_signals

BOUND = 5.0  # s: the most the signal may take to arrive


@pytest.fixture
def server_handler() -> Iterator[list[int]]:
    """A SIGTERM handler standing for the server's own; the signals it got."""
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    yield received
    signal.signal(signal.SIGTERM, previous)


def test_the_callback_runs_on_the_event_loop_then_the_servers_own_handler(server_handler):
    async def scenario() -> list[threading.Thread]:
        ran = asyncio.Event()
        ran_in: list[threading.Thread] = []
        restore = on_exit_signals(lambda: (ran_in.append(threading.current_thread()), ran.set()))
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(ran.wait(), BOUND)
        finally:
            restore()
        return ran_in

    assert asyncio.run(scenario()) == [threading.main_thread()]
    assert server_handler == [signal.SIGTERM]


def test_restoring_puts_the_servers_handler_back(server_handler):
    handler = signal.getsignal(signal.SIGTERM)

    async def scenario() -> None:
        restore = on_exit_signals(lambda: None)
        assert signal.getsignal(signal.SIGTERM) is not handler
        restore()

    asyncio.run(scenario())
    assert signal.getsignal(signal.SIGTERM) is handler


def test_outside_the_main_thread_nothing_is_hooked(server_handler):
    handler = signal.getsignal(signal.SIGTERM)
    hooked: list[object] = []

    def in_a_thread() -> None:
        async def scenario() -> None:
            on_exit_signals(lambda: None)
            hooked.append(signal.getsignal(signal.SIGTERM))

        asyncio.run(scenario())

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join(BOUND)
    assert hooked == [handler]


class RecordedBatches:
    """The app's batches, as far as its lifespan uses them: what was called, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.stopped = threading.Event()

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")
        self.stopped.set()

    def close(self) -> None:
        self.calls.append("close")


def test_sigterm_stops_the_batches_while_the_app_still_serves(server_handler):
    batches = RecordedBatches()
    app = create_app(service=None, batches=batches)  # type: ignore[arg-type]

    async def scenario() -> list[str]:
        async with app.router.lifespan_context(app):
            os.kill(os.getpid(), signal.SIGTERM)
            assert await asyncio.to_thread(batches.stopped.wait, BOUND), "SIGTERM did not stop the batches"
            serving = list(batches.calls)
        return serving

    assert asyncio.run(scenario()) == ["start", "stop"]
    assert batches.calls == ["start", "stop", "close"]
    assert server_handler == [signal.SIGTERM]
