"""Long polling over HTTP: the fetch-and-lock route's waiting, and the app's lifespan.

A parked poll holds its request without a thread (the route is ``async``; each fetch runs in
the thread pool). It stops waiting if the client disconnects, and gives back what it locked
after that, so it cannot lock tasks for nobody. A client, for its share of the parked polls, is
the peer address of the request.

Shutdown: parked polls are answered with Camunda's 500 ``Request rejected due to shutdown of
application server.`` uvicorn only runs the lifespan shutdown once every open request has
finished, which a parked poll may not do for half an hour; so the lifespan also hooks SIGTERM and
SIGINT (chaining to the server's own handlers) to answer parked polls the moment shutdown begins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from extask.application.dto import FetchAndLockRequest, LockedExternalTaskDTO
from extask.application.long_polling import LongPoller
from extask.application.service import ExternalTaskService
from extask.infrastructure.rest.exit_signals import on_exit_signals


async def fetch_and_lock(
    request: Request, service: ExternalTaskService, fetch: FetchAndLockRequest, timeout_ms: int | None
) -> list[LockedExternalTaskDTO]:
    poller: LongPoller | None = getattr(request.app.state, "long_polling", None)
    if poller is None:  # an app without long polling answers at once
        return await run_in_threadpool(service.fetch_and_lock, fetch)
    return await poller.fetch_and_lock(
        fetch,
        timeout_ms,
        disconnected=lambda: _disconnected(request),
        client=request.client.host if request.client is not None else None,
        give_back=service.give_back,
    )


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone away (the body has been read: only a disconnect is left)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    poller: LongPoller | None = getattr(app.state, "long_polling", None)
    if poller is None:
        yield
        return
    poller.start()
    restore = on_exit_signals(poller.reject_parked)
    try:
        yield
    finally:
        restore()
        poller.shutdown()
