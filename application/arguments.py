"""Checks of a use case's arguments, made before its command runs: refusals come as application errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from extask.application.errors import BadRequest, from_domain_error
from extask.domain.errors import DomainError
from extask.domain.variables import InvalidVariableValue, typed_variables


def check(rule: Callable[..., None], *args: Any) -> None:
    try:
        rule(*args)
    except DomainError as error:
        raise from_domain_error(error) from None


def stored_variables(variables: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Typed, validated variables as stored in events; transient ones are not kept."""
    try:
        return {
            name: value.to_dict()
            for name, value in typed_variables(variables).items()
            if value.value_info.get("transient") is not True
        }
    except InvalidVariableValue as error:
        raise BadRequest(error.message, error.camunda_type) from None
