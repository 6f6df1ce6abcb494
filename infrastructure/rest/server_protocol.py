"""The HTTP connection handling ``extask serve`` runs: uvicorn's, with a deadline and a size limit
for a request's line and headers, and a deadline for its body.

uvicorn times out a connection only while it sits idle between requests, and stops the clock at
the first byte that arrives; one that opens and sends nothing, sends a blank line, or sends its
headers a byte at a time, is held for good, and enough of them take every connection slot. Here
the head of every request, from the moment the connection opens or the last answer went out
until its headers are complete, must arrive within ``HttpLimits.header_seconds`` and stay under
``header_bytes``, or the connection is closed (oversized: answered 400 first). A body must then
arrive within ``body_seconds`` (408, and closed).

A connection only notes when its head or body began; one sweep per server process, a few times
a second, closes those past their deadline. A timer armed and cancelled for every request would
cost the event loop more than the request itself (a REST run was 15-25% slower with them).
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from extask.infrastructure import settings
from extask.infrastructure.rest.request_guards import HttpLimits

MOST_SECONDS_BETWEEN_SWEEPS = 1.0


@functools.cache
def _limits() -> HttpLimits:
    return settings.http_limits()  # read once per server process


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request head is late or too large,
    or whose body is late. The limits come from the environment, as every server process reads
    its settings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = _limits()
        self.header_seconds, self.header_bytes, self.body_seconds = (
            limits.header_seconds, limits.header_bytes, limits.body_seconds
        )
        # When (loop time) the pending head or body began; None: none is pending.
        self._head_since: float | None = None
        self._body_since: float | None = None
        # From the end of one request (or the connection's start) to the next one's headers.
        self._head_pending = True
        self._received_for_head = 0  # every byte received while the head was pending
        self._heads = 0  # request heads read on this connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_since = self.loop.time()
        _sweep_soon(self)

    def data_received(self, data: bytes) -> None:
        pending, heads = self._head_pending, self._heads
        super().data_received(data)
        # Counted only while one head stays pending: data that began or completed a head holds
        # a request's body too, which the body's own limits bound. The parser hands a header
        # over only once it is complete, gathering it meanwhile: here its bytes count as they come.
        if not (pending and self._head_pending and self._heads == heads) or self.transport.is_closing():
            return
        self._received_for_head += len(data)
        if self._received_for_head > self.header_bytes:
            self._head_since = None
            self.send_400_response("Request head larger than the limit.")

    def on_headers_complete(self) -> None:
        self._head_since = None
        self._head_pending = False
        self._heads += 1
        if len(self.url) + sum(len(name) + len(value) for name, value in self.headers) > self.header_bytes:
            # Raised in a parser callback, it reaches uvicorn as a malformed request: 400, closed.
            raise ValueError("request head larger than the limit")
        if any(name in (b"content-length", b"transfer-encoding") and value != b"0" for name, value in self.headers):
            self._body_since = self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._body_since = None
        super().on_message_complete()
        self._head_pending = True
        self._received_for_head = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's head is awaited from now, whatever bytes (a blank line ...) arrive
        # before it; a request already pipelined has its head.
        if not self.pipeline and not self.transport.is_closing():
            self._head_since = self.loop.time()

    def sweep(self, now: float) -> None:
        """Close the connection if its pending head or body is past its deadline."""
        if self.transport.is_closing():
            return
        if self._head_since is not None and now - self._head_since > self.header_seconds:
            self._head_since = None
            self.transport.close()
        elif self._body_since is not None and now - self._body_since > self.body_seconds:
            self._body_since = None
            if self.cycle is not None and not self.cycle.response_started:
                self.transport.write(_body_timeout_answer(self.body_seconds))
            self.transport.close()


def _sweep_soon(connection: GuardedHttpProtocol) -> None:
    """Start the server process's sweep with its first connection (one a server: its state)."""
    state = connection.server_state
    if getattr(state, "extask_sweeping", False):
        return
    state.extask_sweeping = True  # type: ignore[attr-defined]
    interval = min(MOST_SECONDS_BETWEEN_SWEEPS, connection.header_seconds / 4, connection.body_seconds / 4)
    loop = connection.loop

    def sweep() -> None:
        now = loop.time()
        for each in list(state.connections):
            if isinstance(each, GuardedHttpProtocol):
                each.sweep(now)
        loop.call_later(interval, sweep)

    loop.call_later(interval, sweep)


def _body_timeout_answer(seconds: float) -> bytes:
    body = json.dumps({
        "type": "InvalidRequestException",
        "message": f"The request body did not arrive within {seconds:g} s (limit body_seconds)",
        "code": None,
    }).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
