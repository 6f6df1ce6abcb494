"""Request models of the runtime external-task query (``GET|POST /external-task`` and ``/count``).

GET takes Camunda's query parameters (lists comma-separated, ``processVariables`` as
``name_operator_value[,…]``); POST the same names in a JSON body, ``processVariables`` as
``[{name, operator, value}]`` and ``sorting`` as ``[{sortBy, sortOrder}]``. As in Camunda's
REST layer, empty lists are no filter, boolean flags only filter when true, a variable value
that reads as a Camunda date is compared as a date, and a ``like``/``notLike`` value is taken as
text. GET values are always text (``amount_eq_5`` compares with the String "5").
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from extask.application.errors import BadRequest
from extask.application.queries import (
    EXTERNAL_TASK_SORT_KEYS,
    ExternalTaskQuery,
    VariableCondition,
)
from extask.domain.errors import java_text as domain_java_text
from extask.infrastructure.rest import wire
from extask.infrastructure.rest.routers import query_sorting
from extask.infrastructure.rest.schemas import (
    MOST_ITEMS,
    Int64,
    PageParams,
    QueryDate,
    QueryFlag,
    QueryList,
    QueryLong,
    RequestModel,
    SortingEntry,
    SortParams,
)

_DIRECT_CRITERIA = (
    "external_task_id", "topic_name", "worker_id", "lock_expiration_after", "lock_expiration_before",
    "activity_id", "execution_id", "process_instance_id", "process_definition_id",
    "process_definition_key", "process_definition_name", "process_definition_name_like",
    "priority_higher_than_or_equals", "priority_lower_than_or_equals",
)
_LIST_CRITERIA = (
    "external_task_id_in", "activity_id_in", "process_instance_id_in", "process_definition_key_in", "tenant_id_in",
)
_FLAG_CRITERIA = (
    "locked", "not_locked", "with_retries_left", "no_retries_left", "active", "suspended",
    "variable_names_ignore_case", "variable_values_ignore_case",
)


class _Criteria:
    """What the GET and POST forms share: building the application's ExternalTaskQuery."""

    def to_query(self, sorting: list[tuple[str | None, str | None]], variables: list[VariableCondition]) -> ExternalTaskQuery:
        criteria: dict[str, Any] = {name: getattr(self, name) for name in _DIRECT_CRITERIA}
        criteria |= {name: getattr(self, name) or None for name in _LIST_CRITERIA}
        criteria |= {name: bool(getattr(self, name)) for name in _FLAG_CRITERIA}
        return ExternalTaskQuery(**criteria, process_variables=variables, sorting=sorting)


class ExternalTaskQueryCriteria(_Criteria, SortParams):
    """``GET /external-task/count``; with paging, ``GET /external-task``."""

    external_task_id: str | None = None
    external_task_id_in: QueryList = None
    topic_name: str | None = None
    worker_id: str | None = None
    locked: QueryFlag = False
    not_locked: QueryFlag = False
    with_retries_left: QueryFlag = False
    no_retries_left: QueryFlag = False
    lock_expiration_after: QueryDate = None
    lock_expiration_before: QueryDate = None
    activity_id: str | None = None
    activity_id_in: QueryList = None
    execution_id: str | None = None
    process_instance_id: str | None = None
    process_instance_id_in: QueryList = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_key_in: QueryList = None
    process_definition_name: str | None = None
    process_definition_name_like: str | None = None
    active: QueryFlag = False
    suspended: QueryFlag = False
    priority_higher_than_or_equals: QueryLong = None
    priority_lower_than_or_equals: QueryLong = None
    tenant_id_in: QueryList = None
    process_variables: str | None = None
    variable_names_ignore_case: QueryFlag = False
    variable_values_ignore_case: QueryFlag = False

    def query(self) -> ExternalTaskQuery:
        sorting = query_sorting(self, EXTERNAL_TASK_SORT_KEYS)
        return self.to_query(sorting, parse_variable_triples(self.process_variables))  # type: ignore[arg-type]


class ExternalTaskQueryParams(ExternalTaskQueryCriteria, PageParams):
    pass


class VariableQueryParameter(RequestModel):
    name: str | None = None
    operator: str | None = None
    value: Any = None


class ExternalTaskQueryBody(_Criteria, RequestModel):
    """The JSON body of ``POST /external-task`` and ``/count``, and ``externalTaskQuery`` in bulk retries."""

    external_task_id: str | None = None
    external_task_id_in: list[str | None] | None = None
    topic_name: str | None = None
    worker_id: str | None = None
    locked: bool | None = None
    not_locked: bool | None = None
    with_retries_left: bool | None = None
    no_retries_left: bool | None = None
    lock_expiration_after: QueryDate = None
    lock_expiration_before: QueryDate = None
    activity_id: str | None = None
    activity_id_in: list[str | None] | None = None
    execution_id: str | None = None
    process_instance_id: str | None = None
    process_instance_id_in: list[str | None] | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_key_in: list[str | None] | None = None
    process_definition_name: str | None = None
    process_definition_name_like: str | None = None
    active: bool | None = None
    suspended: bool | None = None
    priority_higher_than_or_equals: Int64 | None = None
    priority_lower_than_or_equals: Int64 | None = None
    tenant_id_in: list[str | None] | None = None
    process_variables: Annotated[list[VariableQueryParameter], Field(max_length=MOST_ITEMS)] | None = None
    variable_names_ignore_case: bool | None = None
    variable_values_ignore_case: bool | None = None
    sort_by: str | None = None
    sort_order: str | None = None
    sorting: Annotated[list[SortingEntry], Field(max_length=MOST_ITEMS)] | None = None

    def query(self) -> ExternalTaskQuery:
        pair = query_sorting(self, EXTERNAL_TASK_SORT_KEYS)  # type: ignore[arg-type]
        sorting = [*pair, *((entry.sort_by, entry.sort_order) for entry in self.sorting or [])]
        variables = [
            VariableCondition(entry.name, entry.operator, resolve_value(entry.value, entry.operator))  # type: ignore[arg-type]
            for entry in self.process_variables or []
        ]
        return self.to_query(sorting, variables)


def parse_variable_triples(text: str | None) -> list[VariableCondition]:
    """``name_operator_value[,…]`` as Camunda reads it: split on commas, then on underscores."""
    if text is None:
        return []
    conditions = []
    for expression in text.split(","):
        triple = expression.split("_")
        if len(triple) != 3:
            raise BadRequest(
                f"Cannot set query parameter 'processVariables' to value '{text}': "
                "variable query parameter has to have format KEY_OPERATOR_VALUE."
            )
        name, operator, value = triple
        conditions.append(VariableCondition(name, operator, resolve_value(value, operator)))
    return conditions


def resolve_value(value: Any, operator: str | None) -> Any:
    """A condition's value as Camunda's REST layer passes it on: text that reads as a date becomes
    a date, and like/notLike take the text of any value."""
    if operator in ("like", "notLike"):
        return java_text(value)
    if isinstance(value, str):
        try:
            return wire.parse_date(value)
        except ValueError:
            return value
    return value


def java_text(value: Any) -> str:
    """As Camunda prints a value, with dates in the wire format."""
    if isinstance(value, datetime):
        return wire.format_date(value)  # type: ignore[return-value]
    return domain_java_text(value)
