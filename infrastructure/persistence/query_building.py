"""Small helpers to build the WHERE, ORDER BY and paging parts of read-model queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from extask.application.queries import Page
from extask.infrastructure.persistence.like import like
from extask.infrastructure.persistence.sql import Dialect, one_of

UNBOUNDED = 2**62


@dataclass
class Filters:
    dialect: Dialect
    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def equal(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{column} = ?", value)

    def within(self, column: str, values: Sequence[Any] | None) -> None:
        """``column`` is one of ``values``, with one parameter however many they are. An empty
        list is no filter, as in Camunda's REST API."""
        if values:
            self.add(*one_of(self.dialect, column, values))

    def like(self, column: str, pattern: str | None) -> None:
        """``column`` matches the LIKE ``pattern`` (``like.like``'s rules, the same on both backends)."""
        if pattern is not None:
            self.add(*like(self.dialect, column, pattern))

    def where(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def order_by(sorting: Sequence[tuple[str, str]], columns: Mapping[str, str], default: str) -> str:
    terms = [f"{columns[key]} {order.upper()}" for key, order in sorting if key in columns]
    # The default order is the tie-breaker too, so pages never overlap.
    return " ORDER BY " + ", ".join([*terms, f"{default} ASC"])


def paging(page: Page) -> str:
    if page.first_result is None and page.max_results is None:
        return ""
    limit = UNBOUNDED if page.max_results is None else max(page.max_results, 0)
    return f" LIMIT {int(limit)} OFFSET {int(max(page.first_result or 0, 0))}"
