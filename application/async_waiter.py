"""``AsyncWaiter``: what one parked long poll waits on.

Created on the event loop the poll runs on; ``wake()`` may be called from any thread (the
thread that checks availability after a commit, a shutdown, a disconnect watcher). A wake-up
that arrives before the wait is kept, so none is lost between a poll's check and its wait.
"""

from __future__ import annotations

import asyncio


class AsyncWaiter:
    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    async def wait(self, timeout: float | None) -> bool:
        """Until woken (True) or ``timeout`` seconds have passed (False); consumes the wake-up."""
        try:
            if timeout is None:
                await self._event.wait()
            elif not self._event.is_set():
                await asyncio.wait_for(self._event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            # Whatever was signalled up to here is seen by the fetch that follows the wait.
            self._event.clear()
