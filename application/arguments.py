"""Checks of a use case's arguments, made before its command runs: refusals come as application errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from extask.application.errors import BadRequest, from_domain_error
from extask.application.limits import Limits, check_count
from extask.domain.errors import DomainError
from extask.domain.variables import InvalidVariableValue, TypedValue, typed_variables

# Longer variable names are cut in a refusal's message: the name is there to be recognised.
NAME_SHOWN = 100


def check(rule: Callable[..., None], *args: Any) -> None:
    try:
        rule(*args)
    except DomainError as error:
        raise from_domain_error(error) from None


def stored_variables(variables: Mapping[str, Any] | None, limits: Limits = Limits()) -> dict[str, dict[str, Any]]:
    """Typed, validated variables as stored in events; transient ones are not kept. A variable
    whose value is larger than ``limits.variable_bytes`` (see ``value_bytes``), or whose name is
    longer than ``limits.name_characters``, is refused, naming the limit and the variable."""
    try:
        typed = typed_variables(variables)
    except InvalidVariableValue as error:
        raise BadRequest(error.message, error.camunda_type) from None
    for name, value in typed.items():
        check_name(f"the name of variable '{_shown(name)}'", name, limits)
        size = value_bytes(value, limits.variable_bytes)
        check_count(size, limits.variable_bytes, f"Bytes of variable '{_shown(name)}'", "variable_bytes")
    return {name: value.to_dict() for name, value in typed.items() if value.value_info.get("transient") is not True}


def check_name(what: str, name: str | None, limits: Limits) -> None:
    """Refuse an id or a name longer than ``limits.name_characters``: the databases index them,
    and PostgreSQL refuses an index entry of more than about 2,700 bytes."""
    if name is not None and len(name) > limits.name_characters:
        check_count(len(name), limits.name_characters, f"Characters of {what}", "name_characters")


def value_bytes(variable: TypedValue, limit: int) -> int:
    """The size of a variable's value as stored: its text in UTF-8 (String, Json, Xml, Object,
    Date), or the bytes its base64 text holds (Bytes, File); 0 for numbers, booleans and null,
    whose size is fixed. A text that is not ASCII is encoded only when its length alone cannot
    tell on which side of ``limit`` it is; otherwise its length in characters, a lower bound of
    its bytes, stands for it."""
    value = variable.value
    if not isinstance(value, str):
        return 0
    if variable.type in ("Bytes", "File"):
        return len(value) // 4 * 3 - value.endswith("=") - value.endswith("==")
    if value.isascii() or len(value) > limit or 4 * len(value) <= limit:
        return len(value)  # one byte a character, or its length is already beyond or safely within
    return len(value.encode("utf-8", "surrogatepass"))


def _shown(name: Any) -> str:
    text = str(name)
    return text if len(text) <= NAME_SHOWN else f"{text[:NAME_SHOWN]}..."
