"""The engine's limits: how much one request may ask of it, so that no client can make it slow,
full or unavailable for the others.

Every limit refuses with a clear 400 and Camunda's error body (``BadRequest``); the defaults are
far beyond what a real deployment asks (a worker fetches tens of tasks, a query has a handful of
conditions). ``docs/limits.md`` has them in one table, with what each guards against; ``extask
serve --limit name=value`` and the ``EXTASK_LIMIT_<NAME>`` variables set them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from extask.application.errors import BadRequest

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # fetchAndLock: maxTasks, and topics in one request (a parked long poll watches each).
    max_tasks_per_fetch: int = 10_000
    topics_per_fetch: int = 200
    # Conditions in one query (processVariables, variables): each is a subquery to plan.
    conditions_per_query: int = 50
    # Values in one list of a query (activityIdIn, tenantIdIn, externalTaskIdIn, ...).
    values_per_list: int = 10_000
    # Characters of a LIKE pattern (incidentMessageLike, a like condition ...): matching one takes
    # time in the pattern's length times the value's, which no statement timeout can stop.
    like_pattern_characters: int = 200
    # Items of one bulk command: create/batch, retries and retries-async (the ids a query finds too).
    items_per_batch: int = 10_000
    # An id or a name a task is stored with (topicName, processInstanceId, businessKey, a
    # variable's name ...): the databases index them, PostgreSQL up to about 2,700 bytes.
    name_characters: int = 500
    # One variable's value as stored (its text, or its bytes before base64).
    variable_bytes: int = 10 * MIB
    # The aggregates the engine keeps in memory, counted by the size of their variables.
    cache_bytes: int = 256 * MIB
    # A read of the read models (a query, a count, a history page) is stopped after this long.
    query_seconds: float = 30.0


LimitsT = TypeVar("LimitsT")


def overridden(limits: LimitsT, overrides: dict[str, str]) -> LimitsT:
    """``limits`` (a dataclass of numbers) with those named in ``overrides`` set from their text
    (``name=value`` settings); a name it does not have, or a value that is not a positive number,
    raises ValueError."""
    known = {f.name: f for f in fields(limits)}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for name, text in overrides.items():
        if name not in known:
            raise ValueError(f"Unknown limit {name!r}; the limits are {', '.join(known)}")
        kind = float if known[name].type in ("float", float) else int
        try:
            value = kind(text.replace("_", ""))
        except ValueError:
            raise ValueError(f"Limit {name} must be a number, not {text!r}") from None
        if value <= 0:
            raise ValueError(f"Limit {name} must be greater than 0, not {text!r}")
        changes[name] = value
    return replace(limits, **changes)  # type: ignore[type-var]


def check_count(count: int, limit: int, what: str, name: str) -> None:
    """Refuse ``count`` items of ``what`` beyond ``limit`` (the limit's ``name`` is in the message)."""
    if count > limit:
        raise BadRequest(f"{what}: {count} is more than the limit of {limit} ({name})")
