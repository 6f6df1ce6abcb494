"""The sorting of a POST query body, read the way Camunda's REST layer and query API read it.

A body may carry a ``sortBy``/``sortOrder`` pair (checked like the GET parameters) and a
``sorting`` array of ``{sortBy, sortOrder}``. Camunda applies the pair first, then each array
entry as ``orderBy<Property>()`` and ``asc()``/``desc()``, silently skipping values it does not
know; what that leaves is checked by the query's own rules (``effective_sorting``).
"""

from __future__ import annotations

from collections.abc import Sequence

from extask.application.query_checks import effective_sorting
from extask.infrastructure.rest.routers import query_sorting
from extask.infrastructure.rest.schemas import SortingEntry, SortParams


def body_sorting(
    sort_by: str | None, sort_order: str | None, entries: Sequence[SortingEntry] | None, allowed: Sequence[str]
) -> list[tuple[str, str]]:
    pair = query_sorting(SortParams.model_validate({"sortBy": sort_by, "sortOrder": sort_order}), allowed)
    return effective_sorting([*pair, *((entry.sort_by, entry.sort_order) for entry in entries or [])], allowed)
