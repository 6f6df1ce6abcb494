"""Which batches have not ended, read from the event store itself.

A batch that has not ended has its ``Created`` event and no ``Completed`` one. A partial index
over just those two kinds of event holds two rows per batch ever created, whatever the number of
other events, and costs the writes of every other event nothing but the check of its topic. (On
a database made before it, the first start builds it, holding up writes meanwhile.)
"""

from __future__ import annotations

from eventsourcing.utils import get_topic

from domain.batch import Batch

INDEX_NAME = "extask_batch_bounds"
OPENED = get_topic(Batch.Created)
CLOSED = get_topic(Batch.Completed)
# The same text in the index and the query: both backends use a partial index only for a query
# whose condition implies the index's, and SQLite proves that only for identical terms.
_BOUNDS = f"topic IN ('{OPENED}', '{CLOSED}')"


def create_index(events_table: str) -> str:
    return f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON {events_table} (originator_id) WHERE {_BOUNDS}"


def select_unfinished(events_table: str) -> str:
    """The ids of the batches with no ``Completed`` event."""
    return (
        f"SELECT originator_id FROM {events_table} WHERE {_BOUNDS} GROUP BY originator_id "
        f"HAVING SUM(CASE WHEN topic = '{CLOSED}' THEN 1 ELSE 0 END) = 0"
    )
