"""Settings read from the environment, so every server process of ``extask serve`` sees the same ones."""

from __future__ import annotations

import os
from dataclasses import fields

from extask.application.limits import Limits, overridden
from extask.application.long_polling import DEFAULT_MAX_PARKED_POLLS
from extask.infrastructure.persistence.database import DEFAULT_DATABASE_URL
from extask.infrastructure.rest.request_guards import LOOPBACK_HOSTS, HttpLimits, RequestPolicy

DATABASE_URL_VARIABLE = "EXTASK_DATABASE_URL"
MAX_PARKED_POLLS_VARIABLE = "EXTASK_MAX_PARKED_POLLS"
MAX_PARKED_POLLS_PER_CLIENT_VARIABLE = "EXTASK_MAX_PARKED_POLLS_PER_CLIENT"
LIMIT_VARIABLE_PREFIX = "EXTASK_LIMIT_"
ALLOWED_HOSTS_VARIABLE = "EXTASK_ALLOWED_HOSTS"
ALLOWED_ORIGINS_VARIABLE = "EXTASK_ALLOWED_ORIGINS"

# Every limit by name: the engine's, then the HTTP server's (the names do not overlap).
LIMIT_NAMES = (*(f.name for f in fields(Limits)), *(f.name for f in fields(HttpLimits)))


def database_url() -> str:
    return os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


def max_parked_polls() -> int:
    """How many long polls one server process holds at a time; beyond it they are refused (500)."""
    return int(os.environ.get(MAX_PARKED_POLLS_VARIABLE) or DEFAULT_MAX_PARKED_POLLS)


def max_parked_polls_per_client() -> int | None:
    """How many of those one client (network address) may hold; None: a quarter of them."""
    value = os.environ.get(MAX_PARKED_POLLS_PER_CLIENT_VARIABLE)
    return int(value) if value else None


def limit_variable(name: str) -> str:
    """The environment variable of one limit: EXTASK_LIMIT_MAX_TASKS_PER_FETCH ..."""
    return LIMIT_VARIABLE_PREFIX + name.upper()


def limits() -> Limits:
    """The engine's limits: the defaults, but for those set in the environment (ValueError on bad ones)."""
    return overridden(Limits(), _limit_settings(Limits))


def http_limits() -> HttpLimits:
    """The HTTP server's limits, as ``limits``."""
    return overridden(HttpLimits(), _limit_settings(HttpLimits))


def check_limits(overrides: dict[str, str]) -> None:
    """Raise ValueError unless every ``name=value`` setting names a limit and gives it a valid value."""
    unknown = sorted(set(overrides) - set(LIMIT_NAMES))
    if unknown:
        raise ValueError(f"Unknown limit {unknown[0]!r}; the limits are {', '.join(LIMIT_NAMES)}")
    for kind in (Limits, HttpLimits):
        names = {f.name for f in fields(kind)}
        overridden(kind(), {name: value for name, value in overrides.items() if name in names})


def request_policy() -> RequestPolicy:
    """Which hosts (the loopback names and those set) and origins the server answers, and its HTTP limits."""
    hosts = [*LOOPBACK_HOSTS, *_listed(ALLOWED_HOSTS_VARIABLE)]
    return RequestPolicy.of(hosts, _listed(ALLOWED_ORIGINS_VARIABLE), http_limits())


def _limit_settings(kind: type) -> dict[str, str]:
    unknown = sorted(
        name for name in os.environ
        if name.startswith(LIMIT_VARIABLE_PREFIX) and name not in {limit_variable(n) for n in LIMIT_NAMES}
    )
    if unknown:
        raise ValueError(f"Unknown limit variables: {', '.join(unknown)}")
    return {f.name: os.environ[limit_variable(f.name)] for f in fields(kind) if os.environ.get(limit_variable(f.name))}


def _listed(variable: str) -> list[str]:
    return [item.strip() for item in (os.environ.get(variable) or "").split(",") if item.strip()]
