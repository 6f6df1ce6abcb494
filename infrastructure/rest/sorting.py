"""The sorting of a POST query body, read the way Camunda's REST layer and query API read it.

A body may carry a ``sortBy``/``sortOrder`` pair (checked like the GET parameters) and a
``sorting`` array of ``{sortBy, sortOrder}``. Camunda turns each array entry into
``orderBy<Property>()`` then ``asc()``/``desc()``, silently skipping values it does not know, so
a direction can end up with no property before it, a property can get two directions, or none;
the query API refuses each of those with a ``NotValidException``. This module replays that.
"""

from __future__ import annotations

from collections.abc import Sequence

from application.errors import BadRequest
from infrastructure.rest.routers import query_sorting
from infrastructure.rest.schemas import SortingEntry, SortParams


def body_sorting(
    sort_by: str | None, sort_order: str | None, entries: Sequence[SortingEntry] | None, allowed: Sequence[str]
) -> list[tuple[str, str]]:
    pair_params = SortParams.model_validate({"sortBy": sort_by, "sortOrder": sort_order})
    pair = query_sorting(pair_params, allowed, listing=True)
    orderings: list[list[str | None]] = [list(ordering) for ordering in pair]
    for entry in entries or []:
        if entry.sort_by in allowed:
            orderings.append([entry.sort_by, None])
        if entry.sort_order in ("asc", "desc"):
            if not orderings:
                raise _not_valid(
                    "You should call any of the orderBy methods first before specifying a direction: "
                    "currentOrderingProperty is null"
                )
            if orderings[-1][1] is not None:
                raise _not_valid(
                    "Invalid query: can specify only one direction desc() or asc() for an ordering "
                    "constraint: direction is not null"
                )
            orderings[-1][1] = entry.sort_order
    if any(order is None for _, order in orderings):
        raise _not_valid("Invalid query: call asc() or desc() after using orderByXX(): direction is null")
    return [(key, order) for key, order in orderings]  # type: ignore[misc]


def _not_valid(message: str) -> BadRequest:
    return BadRequest(message, "NotValidException")
