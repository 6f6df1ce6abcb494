"""Settings read from the environment, so every server process of ``extask serve`` sees the same ones."""

from __future__ import annotations

import os

from extask.application.long_polling import DEFAULT_MAX_PARKED_POLLS
from extask.infrastructure.persistence.database import DEFAULT_DATABASE_URL

DATABASE_URL_VARIABLE = "EXTASK_DATABASE_URL"
MAX_PARKED_POLLS_VARIABLE = "EXTASK_MAX_PARKED_POLLS"


def database_url() -> str:
    return os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


def max_parked_polls() -> int:
    """How many long polls one server process holds at a time; beyond it they are refused (500)."""
    return int(os.environ.get(MAX_PARKED_POLLS_VARIABLE) or DEFAULT_MAX_PARKED_POLLS)
