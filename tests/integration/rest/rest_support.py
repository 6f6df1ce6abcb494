"""What the REST specifications share: the test client, its base URL, and assertions on
Camunda error bodies and empty 204 answers."""

from __future__ import annotations

import warnings
from typing import Any

# Starlette's TestClient warns on import that it would like httpx2; httpx works and is what we have.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE_URL = "http://localhost/engine-rest"

__all__ = ["BASE_URL", "TestClient", "assert_error", "assert_no_content"]


def assert_error(response, status: int, camunda_type: str, message: str | None = None, code: Any = ...) -> None:
    """A Camunda error body with exactly the given status, type and (if given) message and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"type", "message", "code"}
    assert body["type"] == camunda_type, body
    if message is not None:
        assert body["message"] == message
    if code is not ...:
        assert body["code"] == code


def assert_no_content(response) -> None:
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert "content-type" not in response.headers
