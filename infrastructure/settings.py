"""Settings read from the environment, so every server process of ``extask serve`` sees the same ones."""

from __future__ import annotations

import os

from infrastructure.persistence.database import DEFAULT_DATABASE_URL

DATABASE_URL_VARIABLE = "EXTASK_DATABASE_URL"


def database_url() -> str:
    return os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL
