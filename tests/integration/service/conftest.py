"""Fixtures of the service scenarios. ``service``, ``engine`` and ``clock`` (parametrised over
SQLite and PostgreSQL) come from tests/conftest.py; plain helpers live in ``helpers.py``."""

from __future__ import annotations

import pytest

from .helpers import create_task, fetch_one


@pytest.fixture
def task(service):
    """One fresh external task of ``oneExternalTaskProcess`` on ``externalTaskTopic``, not locked."""
    return create_task(service)


@pytest.fixture
def locked(service, task):
    """That task, fetched and locked by ``aWorkerId`` for LOCK_TIME (a LockedExternalTaskDTO)."""
    return fetch_one(service)
