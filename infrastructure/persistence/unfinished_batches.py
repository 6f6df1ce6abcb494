"""Which batches have not ended, read from the event store itself.

A batch that has not ended has its ``Created`` event and no ``Completed`` one. A partial index
over just those two kinds of event holds two rows per batch ever created, whatever the number of
other events, and costs the writes of every other event nothing but the check of its topic. (On
a database made before it, the first start builds it, holding up writes meanwhile.)
"""

from __future__ import annotations

from eventsourcing.utils import get_topic

from extask.application.moved_topics import former_topic
from extask.domain.batch import Batch

# v2 also covers the topics batches were stored under before the move to the extask root; the
# first index, over those alone, is dropped once v2 exists.
INDEX_NAME = "extask_batch_bounds_v2"
RETIRED_INDEX_NAME = "extask_batch_bounds"
OPENED = (get_topic(Batch.Created), former_topic(Batch.Created))
CLOSED = (get_topic(Batch.Completed), former_topic(Batch.Completed))


def _listed(topics: tuple[str, ...]) -> str:
    return ", ".join(f"'{topic}'" for topic in topics)


# The same text in the index and the query: both backends use a partial index only for a query
# whose condition implies the index's, and SQLite proves that only for identical terms.
_BOUNDS = f"topic IN ({_listed(OPENED + CLOSED)})"


def create_index(events_table: str) -> str:
    return f"CREATE INDEX IF NOT EXISTS {INDEX_NAME} ON {events_table} (originator_id) WHERE {_BOUNDS}"


def retire_index(schema: str | None = None) -> str:
    """Drop the index an earlier version made (schema-qualified on PostgreSQL)."""
    return f'DROP INDEX IF EXISTS "{schema}"."{RETIRED_INDEX_NAME}"' if schema else f"DROP INDEX IF EXISTS {RETIRED_INDEX_NAME}"


def select_unfinished(events_table: str) -> str:
    """The ids of the batches with no ``Completed`` event."""
    return (
        f"SELECT originator_id FROM {events_table} WHERE {_BOUNDS} GROUP BY originator_id "
        f"HAVING SUM(CASE WHEN topic IN ({_listed(CLOSED)}) THEN 1 ELSE 0 END) = 0"
    )
