"""One router per REST resource, plus the small helpers they share.

Each router module exposes a module-level ``router``; ``extask.infrastructure.rest.app`` mounts them
all under ``/engine-rest`` and puts the service on ``app.state``, where the ``Service``
dependency finds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from extask.application.errors import BadRequest, NotFound
from extask.application.queries import SORT_ORDERS
from extask.application.service import ExternalTaskService
from extask.infrastructure.rest.schemas import SortParams


async def _service(request: Request) -> ExternalTaskService:
    # async: a plain def dependency would cost a thread-pool hop on every request.
    return request.app.state.service


Service = Annotated[ExternalTaskService, Depends(_service)]


def optional_component(name: str, missing: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency that finds ``app.state.<name>``, a part an app may be built without; without
    it the route answers 404 with ``missing``."""

    async def component(request: Request) -> Any:
        found = getattr(request.app.state, name, None)
        if found is None:
            raise NotFound(missing, "InvalidRequestException")
        return found

    return component

NO_CONTENT = {"description": "Done; the body is empty.", "content": {}}


def no_content() -> Response:
    """204 with an empty body and no Content-Type (the Python client insists on it)."""
    return Response(status_code=204)


class CamundaTextResponse(Response):
    """``text/plain`` exactly, as Camunda's error-details endpoints answer (no charset parameter)."""

    media_type = "text/plain"

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        super().init_headers(headers)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-type"]
        self.raw_headers.append((b"content-type", b"text/plain"))


def text_or_no_content(text: str | None) -> Response:
    return no_content() if text is None else CamundaTextResponse(text)


def query_sorting(params: SortParams, allowed: Sequence[str]) -> list[tuple[str, str]]:
    """The (sortBy, sortOrder) pair of a GET query, checked in Camunda's order: each value as it
    is read, then the pair. Counts check it too, as Camunda builds the same query for a count as
    for a list (the count itself ignores the order).
    """
    if params.sort_by is not None and params.sort_by not in allowed:
        raise BadRequest(f"Cannot set query parameter 'sortBy' to value '{params.sort_by}'")
    if params.sort_order is not None and params.sort_order not in SORT_ORDERS:
        raise BadRequest(f"Cannot set query parameter 'sortOrder' to value '{params.sort_order}'")
    if (params.sort_by is None) != (params.sort_order is None):
        raise BadRequest("Only a single sorting parameter specified. sortBy and sortOrder required")
    return [] if params.sort_by is None else [(params.sort_by, params.sort_order)]  # type: ignore[list-item]
