"""Settings read from the environment, so every server process of ``extask serve`` sees the same ones."""

from __future__ import annotations

import os
from dataclasses import fields

from extask.application.limits import Limits
from extask.application.long_polling import DEFAULT_MAX_PARKED_POLLS
from extask.infrastructure.persistence.database import DEFAULT_DATABASE_URL

DATABASE_URL_VARIABLE = "EXTASK_DATABASE_URL"
MAX_PARKED_POLLS_VARIABLE = "EXTASK_MAX_PARKED_POLLS"
LIMIT_VARIABLE_PREFIX = "EXTASK_LIMIT_"


def database_url() -> str:
    return os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


def max_parked_polls() -> int:
    """How many long polls one server process holds at a time; beyond it they are refused (500)."""
    return int(os.environ.get(MAX_PARKED_POLLS_VARIABLE) or DEFAULT_MAX_PARKED_POLLS)


def limit_variable(name: str) -> str:
    """The environment variable of one of the engine's limits: EXTASK_LIMIT_MAX_TASKS_PER_FETCH ..."""
    return LIMIT_VARIABLE_PREFIX + name.upper()


def limits() -> Limits:
    """The engine's limits, the defaults but for those set in the environment (ValueError on bad ones)."""
    overrides = {f.name: os.environ[limit_variable(f.name)] for f in fields(Limits) if os.environ.get(limit_variable(f.name))}
    unknown = sorted(
        name for name in os.environ
        if name.startswith(LIMIT_VARIABLE_PREFIX) and name not in {limit_variable(f.name) for f in fields(Limits)}
    )
    if unknown:
        raise ValueError(f"Unknown limit variables: {', '.join(unknown)}")
    return Limits().with_overrides(overrides)
