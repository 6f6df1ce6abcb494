"""``extask serve`` refuses limits it does not know, or values that are no limit, before it
starts: a typo must not leave a server running on a default the operator meant to change."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import run_extask


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("bogus=1", "Unknown limit 'bogus'; the limits are max_tasks_per_fetch"),
        ("max_tasks_per_fetch=many", "Limit max_tasks_per_fetch must be a number, not 'many'"),
        ("body_bytes=0", "Limit body_bytes must be greater than 0, not '0'"),
        ("query_seconds", "expected NAME=VALUE, not 'query_seconds'"),
    ],
)
def test_a_wrong_limit_stops_the_server_before_it_starts(option, message):
    result = run_extask("serve", "--port", "1", "--limit", option)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_an_unknown_limit_variable_stops_it_too(monkeypatch):
    monkeypatch.setitem(os.environ, "EXTASK_LIMIT_MAX_TASK_PER_FETCH", "5")
    result = run_extask("serve", "--port", "1")
    assert result.returncode == 2, result.stderr
    assert "Unknown limit variables: EXTASK_LIMIT_MAX_TASK_PER_FETCH" in result.stderr
