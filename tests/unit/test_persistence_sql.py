"""The read models' time helpers: epoch milliseconds in the tables, aware UTC datetimes out."""

from __future__ import annotations

from datetime import datetime, timezone

from extask.domain.external_task import epoch_millis
from extask.infrastructure.persistence.sql import from_epoch_ms


def test_epoch_milliseconds_become_aware_utc():
    assert from_epoch_ms(1735787045678) == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)


def test_none_is_none():
    assert from_epoch_ms(None) is None


def test_milliseconds_survive_the_round_trip_exactly():
    """A float timestamp would turn .123 s into 122 ms; the integer arithmetic must not."""
    moment = datetime(2025, 1, 2, 3, 4, 5, 123000, tzinfo=timezone.utc)
    assert from_epoch_ms(epoch_millis(moment)) == moment
