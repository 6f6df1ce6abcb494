"""Fixtures shared by every test: a fixed clock, and an engine per backend (SQLite and PostgreSQL).

PostgreSQL comes from ``EXTASK_TEST_DATABASE_URL`` (default: the local ``test`` database). Each
test gets its own schema, so runs never see each other's data. When PostgreSQL is unreachable the
PostgreSQL tests are skipped, unless ``EXTASK_REQUIRE_POSTGRES=1``, which makes them fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from extask.infrastructure.bootstrap import Engine, build_engine

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


class FixedClock:
    """A clock that stands still until a test moves it; Camunda's tests fix it to whole seconds."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, milliseconds: int = 0, **kwargs: float) -> datetime:
        self.now += timedelta(milliseconds=milliseconds, **kwargs)
        return self.now


def postgres_url() -> str:
    return os.environ.get("EXTASK_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL)


def postgres_required() -> bool:
    return os.environ.get("EXTASK_REQUIRE_POSTGRES") == "1"


def _connect_admin() -> psycopg.Connection:
    return psycopg.connect(postgres_url(), autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    try:
        with _connect_admin():
            return True
    except psycopg.OperationalError as error:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required (EXTASK_REQUIRE_POSTGRES=1) but unreachable: {error}")
        return False


@pytest.fixture
def postgres_schema_url(postgres_available: bool) -> Iterator[str]:
    """A database URL pointing at a fresh schema of its own, dropped afterwards."""
    if not postgres_available:
        pytest.skip("PostgreSQL is not reachable")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with _connect_admin() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in postgres_url() else "?"
    yield f"{postgres_url()}{separator}schema={schema}"
    with _connect_admin() as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'extask.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request) -> str:
    """Parametrises a test over both backends."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def engine(database_url: str, clock: FixedClock) -> Iterator[Engine]:
    engine = build_engine(database_url, clock=clock)
    yield engine
    engine.close()


@pytest.fixture
def service(engine: Engine):
    return engine.service
