"""What a careless client or a hostile web page sends a real ``extask serve``, and how it is refused
while the other clients are served: foreign Host names (DNS rebinding), cross-site state changes,
oversized and slow requests, NUL characters in paths and queries, too many connections.

One server per backend for the module, with small HTTP limits so the slow cases take a second.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.conftest import postgres_url
from tests.e2e.conftest import BACKENDS, RunningServer, serving

BODY_BYTES = 64 * 1024
HEADER_BYTES = 16 * 1024
SLOW_SECONDS = 1
CONNECTIONS = 12
WAIT_SECONDS = 10  # for what must happen within about SLOW_SECONDS


class Guarded:
    def __init__(self, running: RunningServer) -> None:
        self.url = running.url
        self.database_url = running.database_url
        self.stderr_path = running.stderr_path
        self.http = running.http
        self.address = (urlsplit(self.url).hostname, urlsplit(self.url).port)

    def create(self, topic: str = "guarded") -> dict:
        response = self.http.post("/external-task/create", json={"topicName": topic})
        assert response.status_code == 200, response.text
        return response.json()

    def count(self, topic: str = "guarded") -> int:
        return self.http.get("/external-task/count", params={"topicName": topic}).json()["count"]

    def raw(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=WAIT_SECONDS)


@pytest.fixture(scope="module", params=BACKENDS)
def guarded(request, tmp_path_factory) -> Iterator[Guarded]:
    with serving(
        request, tmp_path_factory,
        "--allowed-host", "ops.internal",
        "--allowed-origin", "https://console.example",
        "--limit", f"body_bytes={BODY_BYTES}",
        "--limit", f"body_seconds={SLOW_SECONDS}",
        "--limit", f"header_seconds={SLOW_SECONDS}",
        "--limit", f"header_bytes={HEADER_BYTES}",
        "--limit", f"connections={CONNECTIONS}",
    ) as running:
        yield Guarded(running)


def assert_refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "message", "code"}
    for word in words:
        assert word in body["message"]


def one_answer(connection: socket.socket) -> bytes:
    """One whole answer (head and a body of its Content-Length), leaving the connection open."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, body = received.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def closed(connection: socket.socket) -> bool:
    """Whether the server closes the connection without sending more (a reset, if it closed
    before reading what the client sent last)."""
    try:
        return connection.recv(65536) == b""
    except ConnectionResetError:
        return True


def answer_of(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


class TestHostNames:
    def test_a_page_rebound_to_the_servers_address_is_refused(self, guarded):
        response = guarded.http.get("/external-task", headers={"Host": "attacker.example"})
        assert_refused(response, 400, "attacker.example", "--allowed-host")

    def test_a_foreign_host_cannot_change_anything_either(self, guarded):
        before = guarded.count()
        response = guarded.http.post(
            "/external-task/create", json={"topicName": "guarded"}, headers={"Host": "attacker.example:80"}
        )
        assert_refused(response, 400)
        assert guarded.count() == before

    @pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]:8080", "localhost.", "ops.internal", "OPS.internal:8080", "10.1.2.3:8080", "[fd00::1]"])
    def test_loopback_names_configured_ones_and_addresses_are_served(self, guarded, host):
        assert guarded.http.get("/external-task/count", headers={"Host": host}).status_code == 200


class TestCrossSiteRequests:
    def locked_task(self, guarded) -> str:
        topic = f"cross-site-{uuid.uuid4().hex[:8]}"
        task = guarded.create(topic)
        fetched = guarded.http.post(
            "/external-task/fetchAndLock",
            json={"workerId": "w", "maxTasks": 1, "topics": [{"topicName": topic, "lockDuration": 600_000}]},
        ).json()
        assert [t["id"] for t in fetched] == [task["id"]]
        return task["id"]

    def test_a_cross_site_form_cannot_unlock_a_task(self, guarded):
        task_id = self.locked_task(guarded)
        response = guarded.http.post(
            f"/external-task/{task_id}/unlock",
            headers={"Origin": "https://attacker.example", "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert_refused(response, 403, "https://attacker.example", "--allowed-origin")
        assert guarded.http.get(f"/external-task/{task_id}").json()["workerId"] == "w"

    def test_a_form_without_an_origin_cannot_unlock_a_task_either(self, guarded):
        task_id = self.locked_task(guarded)
        response = guarded.http.post(
            f"/external-task/{task_id}/unlock", content=b"", headers={"Content-Type": "text/plain"}
        )
        assert_refused(response, 400, "application/json")
        assert guarded.http.get(f"/external-task/{task_id}").json()["workerId"] == "w"

    def test_a_browser_saying_cross_site_is_refused_without_an_origin(self, guarded):
        task_id = self.locked_task(guarded)
        response = guarded.http.post(f"/external-task/{task_id}/unlock", headers={"Sec-Fetch-Site": "cross-site"})
        assert_refused(response, 403, "(none sent)")
        assert guarded.http.get(f"/external-task/{task_id}").json()["workerId"] == "w"

    def test_a_worker_unlocks_without_a_body_as_the_js_client_does(self, guarded):
        task_id = self.locked_task(guarded)
        assert guarded.http.post(f"/external-task/{task_id}/unlock").status_code == 204
        assert guarded.http.get(f"/external-task/{task_id}").json()["workerId"] is None

    @pytest.mark.parametrize("origin", ["https://console.example", "same"])
    def test_an_allowed_origin_and_the_servers_own_may_change_things(self, guarded, origin):
        task_id = self.locked_task(guarded)
        origin = guarded.url if origin == "same" else origin
        response = guarded.http.post(f"/external-task/{task_id}/unlock", headers={"Origin": origin})
        assert response.status_code == 204, response.text

    def test_reads_from_a_foreign_origin_are_answered(self, guarded):
        # A browser shows a foreign page nothing without CORS headers, which the server never sends.
        response = guarded.http.get("/external-task/count", headers={"Origin": "https://attacker.example"})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers


class TestBodySize:
    def test_a_body_beyond_the_limit_is_413_and_creates_nothing(self, guarded):
        before = guarded.count("large")
        variables = {"blob": {"value": "x" * BODY_BYTES, "type": "String"}}
        response = guarded.http.post("/external-task/create", json={"topicName": "large", "variables": variables})
        assert_refused(response, 413, str(BODY_BYTES), "body_bytes")
        assert guarded.count("large") == before

    def test_a_chunked_body_beyond_the_limit_is_413(self, guarded):
        def chunks() -> Iterator[bytes]:
            yield b'{"topicName": "large", "variables": {"blob": {"type": "String", "value": "'
            for _ in range(BODY_BYTES // 1024 + 1):
                yield b"x" * 1024
            yield b'"}}}'

        response = guarded.http.post(
            "/external-task/create", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert_refused(response, 413, "body_bytes")

    def test_a_body_within_the_limit_is_served(self, guarded):
        variables = {"blob": {"value": "x" * (BODY_BYTES // 2), "type": "String"}}
        response = guarded.http.post("/external-task/create", json={"topicName": "large", "variables": variables})
        assert response.status_code == 200


class TestSlowClients:
    def test_a_body_that_stops_arriving_is_answered_408_and_others_are_served_meanwhile(self, guarded):
        with guarded.raw() as slow:
            slow.sendall(
                b"POST /engine-rest/external-task/create HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"topicName\":"
            )
            guarded.create()  # another client, while the slow one holds its request open
            started = time.monotonic()
            answer = answer_of(slow)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"body_seconds" in answer
        assert time.monotonic() - started < WAIT_SECONDS

    @pytest.mark.parametrize("sent", [b"", b"POST /engine-rest/external-task/create HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
    def test_a_connection_whose_request_head_does_not_arrive_is_closed(self, guarded, sent):
        with guarded.raw() as slow:
            slow.sendall(sent)
            guarded.create()
            assert answer_of(slow) == b""  # closed without an answer: there is no request to answer

    def test_a_request_head_beyond_its_limit_is_refused(self, guarded):
        with guarded.raw() as greedy:
            try:
                greedy.sendall(
                    b"GET /engine-rest/external-task/count HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"X-Padding: " + b"x" * (4 * HEADER_BYTES) + b"\r\n\r\n"
                )
                answer = answer_of(greedy)
            except (BrokenPipeError, ConnectionResetError):
                answer = b""  # closed while the head still came: refused before it was read
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:200]

    def test_a_blank_line_after_an_answer_does_not_hold_the_connection(self, guarded):
        with guarded.raw() as idle:
            idle.sendall(b"GET /engine-rest/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = one_answer(idle)
            assert first.startswith(b"HTTP/1.1 200"), first[:200]
            idle.sendall(b"\r\n")  # bytes, but no request: uvicorn's keep-alive clock stops at them
            assert answer_of(idle) == b""

    def test_a_refused_request_does_not_wait_for_the_body_it_announced(self, guarded):
        with guarded.raw() as refused:
            refused.sendall(
                b"POST /engine-rest/external-task/create HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Origin: https://attacker.example\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000000000\r\n\r\n"
            )
            assert one_answer(refused).startswith(b"HTTP/1.1 403")
            refused.sendall(b"{")  # and on, a byte at a time: it would hold the connection for good
            assert closed(refused)


class TestNulCharacters:
    @pytest.mark.parametrize(
        "path, params",
        [("/external-task/a%00b", {}), ("/external-task", {"topicName": "a\x00b"}), ("/history/external-task-log", {"workerId": "\x00"})],
    )
    def test_nul_in_a_path_or_query_is_a_clear_400(self, guarded, path, params):
        assert_refused(guarded.http.get(path, params=params), 400, "NUL")


class TestEveryAnswer:
    @pytest.mark.parametrize("method, path", [("GET", "/version"), ("GET", "/external-task/none"), ("POST", "/external-task/create")])
    def test_says_nosniff(self, guarded, method, path):
        response = guarded.http.request(method, path, json={} if method == "POST" else None)
        assert response.headers["x-content-type-options"] == "nosniff"


class TestUnexpectedErrors:
    def test_answer_a_correlation_id_the_servers_log_has_the_error_under(self, guarded):
        if not guarded.database_url.startswith("postgresql"):
            pytest.skip("a read model table is taken away on PostgreSQL")
        schema = guarded.database_url.rsplit("schema=", 1)[1]
        with psycopg.connect(postgres_url(), autocommit=True) as connection:
            connection.execute(f'ALTER TABLE "{schema}".ext_task RENAME TO ext_task_away')
            try:
                response = guarded.http.get("/external-task", params={"topicName": "guarded"})
            finally:
                connection.execute(f'ALTER TABLE "{schema}".ext_task_away RENAME TO ext_task')
        assert_refused(response, 500, "correlation id")
        message = response.json()["message"]
        assert "ext_task" not in message and "UndefinedTable" not in message
        correlation_id = message.rsplit(" ", 1)[-1]
        # Logged (and flushed) before the answer was built.
        log = guarded.stderr_path.read_text(errors="replace")
        assert correlation_id in log
        logged = log[log.index(correlation_id):]
        assert "UndefinedTable" in logged and "GET /engine-rest/external-task" in logged
        assert guarded.http.get("/external-task", params={"topicName": "guarded"}).status_code == 200


class TestConnections:
    def test_beyond_the_connection_limit_the_server_answers_503_and_recovers(self, guarded):
        # Long polls are requests the server holds on to; the client's other connections count too,
        # so polls are added until the server says it holds too many.
        held: list[socket.socket] = []
        try:
            while (status := _fresh_get(guarded)) != 503:
                assert len(held) < CONNECTIONS, f"still answered {status} with {len(held)} long polls held"
                held.append(_long_poll(guarded))
        finally:
            for connection in held:
                connection.close()
        deadline = time.monotonic() + WAIT_SECONDS
        while (status := _fresh_get(guarded)) != 200:
            assert time.monotonic() < deadline, f"answered {status} after the connections were closed"


def _long_poll(guarded: Guarded) -> socket.socket:
    body = (
        b'{"workerId": "w", "maxTasks": 1, "asyncResponseTimeout": %d, '
        b'"topics": [{"topicName": "nothing-here", "lockDuration": 1000}]}' % (WAIT_SECONDS * 1000)
    )
    connection = guarded.raw()
    connection.sendall(
        b"POST /engine-rest/external-task/fetchAndLock HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    return connection


def _fresh_get(guarded: Guarded) -> int:
    with httpx.Client(base_url=f"{guarded.url}/engine-rest", timeout=WAIT_SECONDS) as client:
        return client.get("/version").status_code
