"""The HTTP connection handling ``extask serve`` runs: uvicorn's, with a deadline and a size limit
for a request's line and headers, and a deadline for its body.

uvicorn times out a connection only while it sits idle between requests, and stops the clock at
the first byte that arrives; one that opens and sends nothing, sends a blank line, or sends its
headers a byte at a time, is held for good, and enough of them take every connection slot. Here
the head of every request, from the moment the connection opens or the last answer went out
until its headers are complete, must arrive within ``HttpLimits.header_seconds`` and stay under
``header_bytes``, or the connection is closed (oversized: answered 400 first). A body must then
arrive within ``body_seconds`` (408, and closed): kept here, one timer a request, rather than
around every read of a body in the app.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from extask.infrastructure import settings
from extask.infrastructure.rest.request_guards import HttpLimits


@functools.cache
def _limits() -> HttpLimits:
    return settings.http_limits()  # read once per server process


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request head is late or too large.
    The limits come from the environment, as every server process reads its settings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_seconds = _limits().header_seconds
        self.header_bytes = _limits().header_bytes
        self.body_seconds = _limits().body_seconds
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        # From the end of one request (or the connection's start) to the next one's headers.
        self._head_pending = True
        self._head_size = 0  # what the parser has handed over of the pending head
        self._received_for_head = 0  # every byte received while the head was pending
        self._heads = 0  # request heads read on this connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        self._body_arrived()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        pending, heads = self._head_pending, self._heads
        super().data_received(data)
        # Counted only while one head stays pending: data that began or completed a head holds
        # a request's body too, which the body's own limits bound.
        if not (pending and self._head_pending and self._heads == heads) or self.transport.is_closing():
            return
        # The parser hands a header over only once it is complete, gathering it meanwhile: the
        # bytes that arrive while a head is pending are counted here as they come.
        self._received_for_head += len(data)
        if self._received_for_head > self.header_bytes:
            self._head_arrived()
            self.send_400_response("Request head larger than the limit.")

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_arrived()
        self._head_pending = False
        self._heads += 1
        if any(name in (b"content-length", b"transfer-encoding") and value != b"0" for name, value in self.headers):
            self._body_deadline = self.loop.call_later(self.body_seconds, self._body_late)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._body_arrived()
        super().on_message_complete()
        self._head_pending = True
        self._head_size = self._received_for_head = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's head is awaited from now, whatever bytes (a blank line ...) arrive
        # before it; a request already pipelined has its head.
        if not self.pipeline and not self.transport.is_closing():
            self._await_head()

    def _count(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.header_bytes:
            # Raised in a parser callback, it reaches uvicorn as a malformed request: 400, closed.
            raise ValueError("request head larger than the limit")

    def _await_head(self) -> None:
        self._head_arrived()
        self._head_deadline = self.loop.call_later(self.header_seconds, self._head_late)

    def _head_arrived(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _body_arrived(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_late(self) -> None:
        self._body_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            self.transport.write(_body_timeout_answer(self.body_seconds))
        self.transport.close()

    def _head_late(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


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
