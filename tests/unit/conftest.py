"""Fixtures of the unit tests: the long-polling fakes, one of each per scenario."""

from __future__ import annotations

import pytest

from tests.unit.long_poll_fakes import ScriptedSignal, Store, Time


@pytest.fixture
def time() -> Time:
    return Time()


@pytest.fixture
def signal(time) -> ScriptedSignal:
    return ScriptedSignal(time)


@pytest.fixture
def store(time) -> Store:
    return Store(time)
