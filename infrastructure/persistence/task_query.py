"""ExternalTaskQuery to SQL over the runtime model, and the typed variable columns it compares.

Every filter follows Camunda's mapping of the same query: strict bounds for lock expiration and
``notLocked``, ``locked`` only for a lock still in the future, and a process variable condition
true if a variable of the task's process instance satisfies it. A variable is compared
through typed columns the runtime projection writes beside its JSON value: ``text_value``
(String), ``long_value`` (Integer, Long, Short; Boolean as 1/0; Date as epoch milliseconds) and
``double_value`` (Double). As in Camunda, a number is compared with every numeric type that can
hold it exactly, and ``neq``/``notLike`` match a variable of that name that does not satisfy the
positive condition.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from extask.application.queries import (
    ExternalTaskQuery,
    ProcessInstanceFilter,
    VariableCondition,
)
from extask.domain.external_task import epoch_millis
from extask.domain.variables import parse_camunda_date
from extask.infrastructure.persistence.like import like
from extask.infrastructure.persistence.query_building import Filters
from extask.infrastructure.persistence.sql import Dialect, one_of

SORT_COLUMNS = {
    "id": "id", "lockExpirationTime": "lock_expiration_time", "processInstanceId": "process_instance_id",
    "processDefinitionId": "process_definition_id", "processDefinitionKey": "process_definition_key",
    "tenantId": "tenant_id", "taskPriority": "priority", "createTime": "create_time",
}
_TEXT_COLUMNS = {"id", "process_instance_id", "process_definition_id", "process_definition_key", "tenant_id"}
_NULLABLE_COLUMNS = {"lock_expiration_time", "process_definition_id", "process_definition_key", "tenant_id"}

_SQL_OPERATORS = {"eq": "=", "neq": "=", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<="}
_INTEGRAL_TYPES = (("Short", 16), ("Integer", 32), ("Long", 64))


def task_filters(query: ExternalTaskQuery, now: datetime, dialect: Dialect) -> Filters:
    """The WHERE clause of a query over ``{ext_task} t``."""
    filters = Filters(dialect)
    filters.equal("t.id", query.external_task_id)
    filters.within("t.id", query.external_task_id_in)
    filters.equal("t.topic_name", query.topic_name)
    filters.equal("t.worker_id", query.worker_id)
    if query.locked:
        filters.add("t.lock_expiration_time IS NOT NULL AND t.lock_expiration_time > ?", epoch_millis(now))
    if query.not_locked:
        filters.add("(t.lock_expiration_time IS NULL OR t.lock_expiration_time < ?)", epoch_millis(now))
    if query.no_retries_left:
        filters.add("t.retries IS NOT NULL AND t.retries = 0")
    elif query.with_retries_left:
        filters.add("(t.retries IS NULL OR t.retries > 0)")
    if query.lock_expiration_after is not None:
        filters.add("t.lock_expiration_time > ?", epoch_millis(_aware(query.lock_expiration_after)))
    if query.lock_expiration_before is not None:
        filters.add("t.lock_expiration_time < ?", epoch_millis(_aware(query.lock_expiration_before)))
    filters.equal("t.activity_id", query.activity_id)
    filters.within("t.activity_id", query.activity_id_in)
    filters.equal("t.execution_id", query.execution_id)
    filters.equal("t.process_instance_id", query.process_instance_id)
    filters.within("t.process_instance_id", query.process_instance_id_in)
    filters.equal("t.process_definition_id", query.process_definition_id)
    filters.equal("t.process_definition_key", query.process_definition_key)
    filters.within("t.process_definition_key", query.process_definition_key_in)
    if query.process_definition_name is not None or query.process_definition_name_like is not None:
        filters.add("1 = 0")  # extask's process definitions have no names
    if query.suspended:
        filters.add("t.suspended = ?", True)
    elif query.active:
        filters.add("t.suspended = ?", False)
    if query.priority_higher_than_or_equals is not None:
        filters.add("t.priority >= ?", query.priority_higher_than_or_equals)
    if query.priority_lower_than_or_equals is not None:
        filters.add("t.priority <= ?", query.priority_lower_than_or_equals)
    filters.within("t.tenant_id", query.tenant_id_in)
    if query.process_variables:
        filters.add(*variables_clause(query, dialect))
    return filters


def task_order_by(sorting: Sequence[tuple[str, str]], dialect: Dialect) -> str:
    """ORDER BY the given (sortBy, sortOrder) pairs, then id. NULLs sort after every value
    (PostgreSQL's rule) on both backends, and text in code point order."""
    terms = []
    for key, order in [*sorting, ("id", "asc")]:
        column, direction = SORT_COLUMNS[key], order.upper()
        if column in _NULLABLE_COLUMNS:
            terms.append(f"(t.{column} IS NULL) {direction}")
        terms.append(f"t.{column}{_collate(dialect, column)} {direction}")
    return " ORDER BY " + ", ".join(terms)


def instance_filters(instance_filter: ProcessInstanceFilter, dialect: Dialect) -> Filters:
    """The WHERE clause of a query over ``{proc_inst} p``."""
    filters = Filters(dialect)
    filters.within("p.id", instance_filter.process_instance_ids)
    filters.equal("p.business_key", instance_filter.business_key)
    filters.equal("p.process_definition_id", instance_filter.process_definition_id)
    filters.equal("p.process_definition_key", instance_filter.process_definition_key)
    filters.within("p.process_definition_key", instance_filter.process_definition_key_in)
    filters.within("p.tenant_id", instance_filter.tenant_id_in)
    if instance_filter.without_tenant_id:
        filters.add("p.tenant_id IS NULL")
    if instance_filter.suspended:
        filters.add("p.suspended = ?", True)
    elif instance_filter.active:
        filters.add("p.suspended = ?", False)
    return filters


# -- process variable conditions ----------------------------------------------------------------


def variables_clause(query: ExternalTaskQuery, dialect: Dialect) -> tuple[str, ...]:
    """Every condition of the query in one subquery over the variables of the task's process
    instance: true if for each condition one of the variables it names satisfies it.

    One subquery rather than an ``EXISTS`` per condition: PostgreSQL turns those into joins, and
    the time it takes to plan them grows faster than the square of their number (here half a
    second for 50 conditions, half a minute for 200); the one subquery is planned in a
    millisecond whatever the number, and reads one index range of ``proc_var`` per task."""
    satisfied: list[str] = []
    params: list[Any] = []
    aggregate = "bool_or" if dialect.name == "postgres" else "MAX"  # SQLite's booleans are 0 and 1
    ignore_case = query.variable_names_ignore_case
    for condition in query.process_variables:
        value, value_params = _value_match(condition, query.variable_values_ignore_case, dialect)
        name = "v.name = UPPER(?)" if ignore_case else "v.name = ?"
        satisfied.append(f"{aggregate}({value}) FILTER (WHERE {name})")
        params += [*value_params, condition.name]
    if ignore_case:
        # Each name upper-cased once, not once for every condition: the fence (an empty OFFSET
        # or LIMIT) keeps the subquery's rows, where the planner would copy its expressions
        # into every condition.
        fence = " OFFSET 0" if dialect.name == "postgres" else " LIMIT -1"
        variables = (
            "(SELECT process_instance_id, UPPER(name) AS name, type, value, text_value, long_value, double_value "
            f"FROM {{proc_var}} WHERE process_instance_id = t.process_instance_id{fence}) v"
        )
    else:
        # Only the variables named are read from the index (its key is instance id, name).
        names_clause, names = one_of(dialect, "v.name", sorted({c.name for c in query.process_variables}))
        variables = f"{{proc_var}} v WHERE v.process_instance_id = t.process_instance_id AND {names_clause}"
        params.insert(0, names)
    statement = (
        f"EXISTS (SELECT 1 FROM {variables} GROUP BY v.process_instance_id HAVING {' AND '.join(satisfied)})"
    )
    return (statement, *params)


def _value_match(condition: VariableCondition, ignore_case: bool, dialect: Dialect) -> tuple[str, list[Any]]:
    """Whether the value of the variable ``v`` satisfies the condition (for ``neq`` and
    ``notLike``: does not satisfy the positive one)."""
    alternatives, params = _value_alternatives(condition, ignore_case, dialect)
    matches = " OR ".join(f"({alternative})" for alternative in alternatives) or "1 = 0"
    negation = "NOT " if condition.operator in ("neq", "notLike") else ""
    return f"{negation}({matches})", params


def _value_alternatives(
    condition: VariableCondition, ignore_case: bool, dialect: Dialect
) -> tuple[list[str], list[Any]]:
    # Each alternative guards its column with IS NOT NULL, so NOT (...) never meets an SQL NULL.
    value, operator = condition.value, condition.operator
    if value is None:
        return ["v.value IS NULL OR v.value = ?"], ["null"]
    if isinstance(value, bool):
        return ["v.type = ? AND v.long_value IS NOT NULL AND v.long_value = ?"], ["Boolean", int(value)]
    if isinstance(value, datetime):
        sql = f"v.type = ? AND v.long_value IS NOT NULL AND v.long_value {_SQL_OPERATORS[operator]} ?"
        return [sql], ["Date", epoch_millis(_aware(value))]
    if isinstance(value, str):
        comparison, operand = _text_comparison(value, operator, ignore_case, dialect)
        return [f"v.type = ? AND v.text_value IS NOT NULL AND {comparison}"], ["String", operand]
    return _number_alternatives(value, _SQL_OPERATORS[operator])


def _text_comparison(value: str, operator: str, ignore_case: bool, dialect: Dialect) -> tuple[str, str]:
    column, operand = ("UPPER(v.text_value)", "UPPER(?)") if ignore_case else ("v.text_value", "?")
    if operator in ("like", "notLike"):
        return like(dialect, column, value, operand=operand)
    return f"{column}{_collate(dialect, 'text_value')} {_SQL_OPERATORS[operator]} {operand}", value


def _number_alternatives(value: int | float, sql_operator: str) -> tuple[list[str], list[Any]]:
    alternatives: list[str] = []
    params: list[Any] = []
    whole = value if isinstance(value, int) else int(value) if value.is_integer() else None
    types = [name for name, bits in _INTEGRAL_TYPES if whole is not None and -(2 ** (bits - 1)) <= whole < 2 ** (bits - 1)]
    if types:
        alternatives.append(
            f"v.type IN ({', '.join('?' * len(types))}) AND v.long_value IS NOT NULL AND v.long_value {sql_operator} ?"
        )
        params += [*types, whole]
    try:
        double = float(value)
    except OverflowError:
        double = math.inf
    if math.isfinite(double):
        alternatives.append(f"v.type = ? AND v.double_value IS NOT NULL AND v.double_value {sql_operator} ?")
        params += ["Double", double]
    return alternatives, params


def variable_search_columns(variable: Mapping[str, Any]) -> tuple[str | None, int | None, float | None]:
    """(text_value, long_value, double_value) of a stored variable ``{type, value, valueInfo}``."""
    type_name, value = variable["type"], variable.get("value")
    if value is None:
        return None, None, None
    if type_name == "String":
        return value, None, None
    if type_name in ("Integer", "Long", "Short"):
        return None, int(value), None
    if type_name == "Boolean":
        return None, int(bool(value)), None
    if type_name == "Date":
        return None, epoch_millis(parse_camunda_date(value)), None
    if type_name == "Double":
        return None, None, float(value)
    return None, None, None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _collate(dialect: Dialect, column: str) -> str:
    return ' COLLATE "C"' if dialect.name == "postgres" and column in (_TEXT_COLUMNS | {"text_value"}) else ""
