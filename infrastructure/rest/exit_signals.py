"""Acting the moment a server is told to stop (SIGINT, SIGTERM), before uvicorn has waited for
the open requests to finish and run the lifespan's shutdown."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import Any

EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_exit_signals(callback: Callable[[], Any]) -> Callable[[], None]:
    """Run ``callback`` on the event loop when SIGINT or SIGTERM arrives, then the previous handler.

    Only where Python handles signals (the main thread) and only over a handler already
    installed in Python (uvicorn's); returns a function that puts the previous handlers back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    installed: dict[int, tuple[Any, Any]] = {}
    for number in EXIT_SIGNALS:
        previous = signal.getsignal(number)
        if not callable(previous):
            continue

        def chained(signum: int, frame: Any, previous: Any = previous) -> None:
            # In a signal handler: no locks, only a hand-over to the loop.
            try:
                loop.call_soon_threadsafe(callback)
            except RuntimeError:  # the loop has closed
                pass
            previous(signum, frame)

        signal.signal(number, chained)
        installed[number] = (previous, chained)

    def restore() -> None:
        for number, (previous, chained) in installed.items():
            if signal.getsignal(number) is chained:
                signal.signal(number, previous)

    return restore
