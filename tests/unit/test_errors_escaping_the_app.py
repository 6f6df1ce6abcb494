"""The request guards' handling of errors that escape the app: every one is logged once, and an
answer already begun is not followed by another."""

from __future__ import annotations

import asyncio
import logging

from extask.infrastructure.rest.request_guards import RequestGuards, RequestPolicy

SCOPE = {"type": "http", "method": "GET", "path": "/engine-rest/version", "query_string": b"", "headers": [(b"host", b"localhost")]}


def run(app) -> tuple[list[dict], Exception | None]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    try:
        asyncio.run(RequestGuards(app, RequestPolicy())(dict(SCOPE), receive, send))
    except Exception as error:  # noqa: BLE001 - the test looks at what escaped
        return sent, error
    return sent, None


def test_an_error_after_the_answer_began_is_logged_and_goes_no_further(caplog):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("the stream broke")

    with caplog.at_level(logging.ERROR, logger="extask.rest"):
        sent, escaped = run(app)
    assert escaped is None
    assert [message["type"] for message in sent] == ["http.response.start"]
    [record] = caplog.records
    assert "after the answer began" in record.getMessage() and str(record.exc_info[1]) == "the stream broke"


def test_an_error_before_any_answer_is_a_500_logged_under_its_correlation_id(caplog):
    async def app(scope, receive, send):
        raise RuntimeError("nothing was sent")

    with caplog.at_level(logging.ERROR, logger="extask.rest"):
        sent, escaped = run(app)
    assert escaped is None
    assert sent[0]["status"] == 500
    [record] = caplog.records
    correlation_id = record.getMessage().split()[2]  # "Unexpected error <id> answering GET /..."
    assert correlation_id in b"".join(m.get("body", b"") for m in sent).decode()
