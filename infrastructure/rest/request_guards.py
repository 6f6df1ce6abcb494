"""What a request must show before the app reads it, and what every answer carries.

- Its ``Host`` is an IP address or an allowed name (loopback names unless configured): a web page
  whose name was rebound to 127.0.0.1 cannot reach the API from a developer's browser (a page can
  only have a browser send an address as its Host from that very address: the server's own).
- A state-changing request (POST, PUT, PATCH, DELETE) comes from no foreign ``Origin`` and sends
  no body type but JSON: a cross-site form or ``fetch`` cannot unlock, complete or delete a task.
  Workers and scripts send no ``Origin``; a page the server itself serves is same-origin.
- No NUL in its path or query (no name or id holds one, and PostgreSQL's text cannot; values in
  a body are another matter: SQLite stores them, PostgreSQL refuses them as a 400 of their own).
- Its body is within ``HttpLimits.body_bytes`` (413); it is read here once, so nothing behind
  reads more than the limit. (``extask serve``'s connections give it ``body_seconds`` to arrive:
  ``server_protocol``.)

Every answer carries ``X-Content-Type-Options: nosniff``. An error that escapes the app after its
500 went out has been logged with its correlation id already (``errors.unexpected_error``); it
stops here rather than be logged again by the server, as does one after another answer began,
which is logged here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from extask.application.limits import MIB
from extask.infrastructure.rest import errors
from extask.infrastructure.rest.wire import error_response

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
ANY = "*"

# The scope key of a body the guards have read.
BODY = "extask.body"
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOSNIFF = (b"x-content-type-options", b"nosniff")


@dataclass(frozen=True)
class HttpLimits:
    """How much of the server one request may hold (documented in docs/limits.md)."""

    # Enough for a variable of variable_bytes (10 MiB) as base64; a body of many small objects
    # takes up to some fifty times its size in memory while it is read.
    body_bytes: int = 16 * MIB
    body_seconds: float = 30.0
    # Time for a request's line and headers to arrive, and their size.
    header_seconds: float = 10.0
    header_bytes: int = 64 * 1024
    # Connections and requests the server process holds at once; beyond, it answers 503.
    connections: int = 1000


@dataclass(frozen=True)
class RequestPolicy:
    """Who may send requests: the names the server is reached by (``*``: any), the origins of web
    pages allowed to change things (``*``: any; the server's own is always allowed), and the limits."""

    allowed_hosts: frozenset[str] = frozenset(LOOPBACK_HOSTS)
    allowed_origins: frozenset[str] = frozenset()
    limits: HttpLimits = field(default_factory=HttpLimits)

    @classmethod
    def of(cls, hosts: list[str] | tuple[str, ...], origins: list[str] | tuple[str, ...], limits: HttpLimits) -> RequestPolicy:
        return cls(
            allowed_hosts=frozenset(_host_name(h) if h != ANY else ANY for h in hosts if h.strip()),
            allowed_origins=frozenset(o.strip().rstrip("/").lower() for o in origins if o.strip()),
            limits=limits,
        )


class _Refused(Exception):
    def __init__(self, status: int, camunda_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.camunda_type, self.message = status, camunda_type, message


class RequestGuards:
    """ASGI middleware in front of the whole app (the worker commands' short way included)."""

    def __init__(self, app: ASGIApp, policy: RequestPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_nosniff(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()), _NOSNIFF]}
            await send(message)

        try:
            headers = _headers(scope)
            self._check_headers(scope, headers)
            if _has_body(headers):
                body = await self._read_body(receive, headers)
                if body is None:
                    return  # the client went away before it finished sending
                receive = replaying(body, receive)
                scope[BODY] = body  # read once: the worker commands take it from here
        except _Refused as refusal:
            response = error_response(refusal.status, refusal.camunda_type, refusal.message)
            # What is left of the request (a body of any length) is not read: the connection
            # ends with the answer, rather than stay open while the client sends it.
            response.headers["connection"] = "close"
            await response(scope, receive, send_nosniff)
            return
        try:
            await self.app(scope, receive, send_nosniff)
        except Exception as error:
            if not started:
                await (await errors.unexpected_error(Request(scope), error))(scope, receive, send_nosniff)
            elif not hasattr(error, "extask_correlation_id"):  # not answered 500 and logged already
                errors.log.error(
                    "Unexpected error after the answer began, on %s %s", scope["method"], scope["path"], exc_info=error
                )

    def _check_headers(self, scope: Scope, headers: dict[bytes, bytes]) -> None:
        host = headers.get(b"host")
        if host is not None and not self._host_allowed(host):
            name = host.decode("latin-1")
            raise _Refused(
                400, "InvalidRequestException",
                f"Host {name!r} is not one this server is reached by; allow it with "
                "extask serve --allowed-host (or EXTASK_ALLOWED_HOSTS)",
            )
        if "\x00" in scope["path"] or b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
            raise _Refused(400, "InvalidRequestException", "NUL characters are not allowed in paths or query parameters")
        if scope["method"] not in _STATE_CHANGING:
            return
        origin = headers.get(b"origin")
        cross_site = headers.get(b"sec-fetch-site") in (b"cross-site", b"same-site")
        if (origin is not None or cross_site) and not self._origin_allowed(origin, host):
            shown = origin.decode("latin-1") if origin is not None else "(none sent)"
            raise _Refused(
                403, "RestException",
                f"Cross-site request refused: origin {shown} may not change anything here; allow it with "
                "extask serve --allowed-origin (or EXTASK_ALLOWED_ORIGINS)",
            )
        content_type = headers.get(b"content-type")
        if content_type is not None and content_type.split(b";", 1)[0].strip().lower() != b"application/json":
            raise _Refused(400, "InvalidRequestException", "The request body must be JSON, sent with Content-Type application/json")

    def _host_allowed(self, host: bytes) -> bool:
        allowed = self.policy.allowed_hosts
        name = _host_name(host.decode("latin-1"))
        return ANY in allowed or name in allowed or _is_address(name)

    def _origin_allowed(self, origin: bytes | None, host: bytes | None) -> bool:
        if origin is None:
            return False  # a browser that says cross-site but not from where
        text = origin.decode("latin-1").strip().rstrip("/").lower()
        if ANY in self.policy.allowed_origins or text in self.policy.allowed_origins:
            return True
        # The server's own pages: the origin is the very name and port the request was sent to.
        parts = urlsplit(text)
        return host is not None and parts.scheme in ("http", "https") and parts.netloc == host.decode("latin-1").lower()

    async def _read_body(self, receive: Receive, headers: dict[bytes, bytes]) -> bytes | None:
        limit = self.policy.limits.body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(limit: int) -> _Refused:
    return _Refused(413, "InvalidRequestException", f"The request body is larger than the limit of {limit} bytes (body_bytes)")


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name: value for name, value in scope["headers"]}


def _has_body(headers: dict[bytes, bytes]) -> bool:
    return headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _host_name(host: str) -> str:
    """The name in a Host header or setting: lower case, without port, brackets or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive channel that hands out the body already read, then carries on with the client's
    (where only a disconnect can come)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
