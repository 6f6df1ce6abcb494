"""Camunda's checks on an ExternalTaskQuery, made before it reaches the read model, and the
engine's limits on the size of every query.

The messages and exception names are Camunda's: those its query builder raises (null members,
booleans and null in ordering conditions, sorting directions) and the one its REST layer raises
for an unknown process variable operator. The limits (``check_query_size``) are extask's own:
each variable condition is a subquery for the database to plan, and each list a parameter to
send and to compare with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from extask.application.errors import BadRequest
from extask.application.limits import Limits, check_count
from extask.application.queries import (
    EXTERNAL_TASK_SORT_KEYS,
    SORT_ORDERS,
    VARIABLE_OPERATORS,
    ExternalTaskQuery,
    VariableCondition,
)

_NULL_MEMBER_NAMES = {
    "activity_id_in": "activityIdIn", "process_instance_id_in": "processInstanceIdIn", "tenant_id_in": "tenantIds",
}

_CONDITION_LABELS = {
    "gt": "greater than", "gteq": "greater than or equal", "lt": "less than", "lteq": "less than or equal",
    "like": "like", "notLike": "not like",
}


def check_task_query(query: ExternalTaskQuery) -> list[tuple[str, str]]:
    """Raise BadRequest on what Camunda refuses; return the query's effective sorting."""
    if query.external_task_id_in is not None and not query.external_task_id_in:
        raise BadRequest("Set of external task ids is empty", "ProcessEngineException")
    for name, camunda_name in _NULL_MEMBER_NAMES.items():
        if any(value is None for value in getattr(query, name) or []):
            raise BadRequest(f"{camunda_name} contains null value", "NullValueException")
    for condition in query.process_variables:
        check_condition(condition)
    return effective_sorting(query.sorting)


def check_query_size(query: Any, limits: Limits) -> None:
    """Refuse a query (any of the query dataclasses) with more variable conditions than
    ``conditions_per_query``, a list of more values than ``values_per_list`` or a LIKE pattern
    longer than ``like_pattern_characters``."""
    for field in fields(query):
        value = getattr(query, field.name)
        if field.name == "process_variables":
            check_count(
                len(value), limits.conditions_per_query, "Conditions in processVariables", "conditions_per_query"
            )
            for condition in value:
                if condition.operator in ("like", "notLike") and isinstance(condition.value, str):
                    check_like_pattern(condition.value, f"the {condition.operator} condition on {condition.name}", limits)
        elif isinstance(value, (list, tuple)):
            check_count(len(value), limits.values_per_list, f"Values in {_camel_case(field.name)}", "values_per_list")
        elif field.name.endswith("_like") and isinstance(value, str):
            check_like_pattern(value, _camel_case(field.name), limits)


def check_like_pattern(pattern: str, what: str, limits: Limits) -> None:
    check_count(
        len(pattern), limits.like_pattern_characters, f"Characters of the pattern of {what}", "like_pattern_characters"
    )


def _camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def check_condition(condition: VariableCondition) -> None:
    if condition.name is None:
        raise BadRequest("name is null", "NullValueException")
    if condition.operator not in VARIABLE_OPERATORS:
        operator = "null" if condition.operator is None else condition.operator
        raise BadRequest(f"Invalid process variable comparator specified: {operator}")
    value = condition.value
    if (value is None or isinstance(value, bool)) and condition.operator not in ("eq", "neq"):
        label = _CONDITION_LABELS[condition.operator]
        raise BadRequest(f"Booleans and null cannot be used in '{label}' condition", "ProcessEngineException")
    if condition.operator in ("like", "notLike") and not isinstance(value, str):
        raise BadRequest(f"The value of a '{condition.operator}' condition must be a string")
    if not isinstance(value, (type(None), bool, int, float, str, datetime)):
        raise BadRequest(f"Cannot compare process variables with a value of type {type(value).__name__}")


def effective_sorting(
    sorting: Sequence[tuple[str | None, str | None]], allowed: Sequence[str] = EXTERNAL_TASK_SORT_KEYS
) -> list[tuple[str, str]]:
    """Apply (sortBy, sortOrder) pairs as Camunda's REST layer applies a ``sorting`` array: an
    unknown sortBy is skipped, an unknown sortOrder ignored, and every property needs a direction."""
    ordering: list[list[str | None]] = []
    for key, order in sorting:
        if key in allowed:
            ordering.append([key, None])
        if order in SORT_ORDERS:
            if not ordering:
                raise BadRequest(
                    "You should call any of the orderBy methods first before specifying a direction: "
                    "currentOrderingProperty is null",
                    "NotValidException",
                )
            if ordering[-1][1] is not None:
                raise BadRequest(
                    "Invalid query: can specify only one direction desc() or asc() for an ordering "
                    "constraint: direction is not null",
                    "NotValidException",
                )
            ordering[-1][1] = order
    if any(order is None for _, order in ordering):
        raise BadRequest(
            "Invalid query: call asc() or desc() after using orderByXX(): direction is null", "NotValidException"
        )
    return [(key, order) for key, order in ordering]  # type: ignore[misc]
