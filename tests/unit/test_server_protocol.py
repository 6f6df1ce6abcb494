"""The connection handling of ``extask serve`` (``GuardedHttpProtocol``), fed bytes directly: a
request head is bounded in size while it is still arriving, and awaited only so long."""

from __future__ import annotations

import asyncio

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from extask.infrastructure.rest import server_protocol
from extask.infrastructure.rest.request_guards import HttpLimits
from extask.infrastructure.rest.server_protocol import GuardedHttpProtocol

HEADER_BYTES = 1024


class Transport(asyncio.Transport):
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope, receive, send) -> None:  # never reached: no head gets through
    raise AssertionError("the app was called")


@pytest.fixture
def connection(monkeypatch):
    monkeypatch.setattr(server_protocol, "_limits", lambda: HttpLimits(header_bytes=HEADER_BYTES, header_seconds=60))
    loop = asyncio.new_event_loop()
    config = Config(app=_app, lifespan="off")
    config.load()
    protocol = GuardedHttpProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    transport = Transport()
    protocol.connection_made(transport)
    yield protocol, transport
    protocol.connection_lost(None)
    loop.close()


def test_one_header_growing_beyond_the_limit_is_refused_before_it_ends(connection):
    protocol, transport = connection
    protocol.data_received(b"GET /engine-rest/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
    sent = 0
    while not transport.closed:
        assert sent <= 2 * HEADER_BYTES, "the head kept being read past its limit"
        protocol.data_received(b"x" * 100)
        sent += 100
    assert transport.written.startswith(b"HTTP/1.1 400")


def test_a_head_within_the_limit_arriving_in_pieces_is_read(connection):
    protocol, transport = connection
    head = b"GET /engine-rest/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * (HEADER_BYTES // 2)
    for start in range(0, len(head), 100):
        protocol.data_received(head[start : start + 100])
    assert not transport.closed and protocol._head_pending
