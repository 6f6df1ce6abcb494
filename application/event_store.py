"""The event-sourcing application that stores both aggregates, with group commit and a cache.

It is the library's ``Application`` with four additions:
- the aggregates of each save travel with their events to the recorder, which writes the runtime
  read model in the same transaction (from the aggregates' state, where their events changed it);
- ``commit`` writes many independent groups of aggregates (one group per command) in one
  transaction; a group whose aggregates were changed meanwhile is refused alone, the rest commit;
- a cache of committed aggregates spares a database read per command. It only ever hands out
  copies, and a decision made on a stale copy cannot commit: its events carry the version it
  saw, which the recorder checks under the event store's lock. It is bounded by count and by
  bytes (``cache_bytes``): each cached version is weighed once, as it is written, by the text it
  holds (its variables, error details and other strings; see ``estimated_bytes``), and the least
  recently used are dropped until both bounds hold; one aggregate heavier than the whole budget
  is not cached at all;
- events are encoded with orjson (``FastJSONTranscoder``): the library's JSON, several times
  faster, since every command encodes its events on the way to the group commit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from sys import getsizeof
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Recording, Transcoder

from extask.application.errors import BadRequest
from extask.application.limits import Limits
from extask.application.moved_topics import register_former_topics

CACHE_SIZE = 100_000
# What an aggregate weighs beyond the text it holds (its object, fields and small values), and
# each variable beyond its name and text: roughly what CPython takes for them (a task of no
# variables measures about 2-3 KiB), kept low enough that CACHE_SIZE small aggregates fit the
# default budget, so the count still bounds an engine of small tasks as it did.
AGGREGATE_BYTES = 2048
VARIABLE_BYTES = 350


class FastJSONTranscoder(JSONTranscoder):
    """The library's JSON transcoder, encoding with orjson: the same JSON for every value extask's
    events hold. orjson hands datetimes (and whatever it cannot encode, such as Decimals) to the
    library's transcodings, as the json module does; what orjson refuses outright (integers beyond
    64 bits, keys that are not strings) is encoded by the json module. UUIDs it would write as
    plain strings, so no event may carry one (tests/unit/test_event_transcoding.py)."""

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self._encode_obj, option=orjson.OPT_PASSTHROUGH_DATETIME)
        except TypeError:
            return super().encode(obj)


class ExternalTaskEventStore(Application[UUID]):
    name = "extask"

    def __init__(self, env: dict[str, str] | None = None, *, cache_bytes: int = Limits().cache_bytes) -> None:
        register_former_topics()
        super().__init__(env)
        # Each cached aggregate with its weight (``estimated_bytes``), least recently used first.
        self._cache: OrderedDict[UUID, tuple[Aggregate, int]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_budget = cache_bytes
        self._cached_bytes = 0

    def construct_transcoder(self) -> Transcoder:
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        processing_event.saved_kwargs.setdefault(
            "aggregates", list(processing_event.aggregates.values())
        )
        return super()._record(processing_event)

    # -- reading --------------------------------------------------------------------------------

    def get_many(
        self, aggregate_ids: Sequence[UUID], *, fresh: bool = False, cached_only: bool = False
    ) -> dict[UUID, tuple[Aggregate | None, bool]]:
        """Per aggregate, (a private copy of it or None, whether it came from the cache). Those not
        cached are read in one query, not one each (``cached_only``: not read at all, but answered
        None)."""
        found: dict[UUID, tuple[Aggregate | None, bool]] = {}
        if not fresh:
            with self._cache_lock:
                for aggregate_id in aggregate_ids:
                    entry = self._cache.get(aggregate_id)
                    if entry is not None:
                        self._cache.move_to_end(aggregate_id)
                        found[aggregate_id] = (entry[0], True)
            found = {aggregate_id: (_copy(cached), True) for aggregate_id, (cached, _) in found.items()}
        missing = [aggregate_id for aggregate_id in aggregate_ids if aggregate_id not in found]
        if missing and not cached_only:
            folded: dict[UUID, Any] = {}
            for stored in self.recorder.select_events_of(missing):  # type: ignore[attr-defined]
                event = self.mapper.to_domain_event(stored)
                folded[event.originator_id] = event.mutate(folded.get(event.originator_id))
            for aggregate_id in missing:
                found[aggregate_id] = (folded.get(aggregate_id), False)
        return {aggregate_id: found.get(aggregate_id, (None, False)) for aggregate_id in aggregate_ids}

    def unfinished_batch_ids(self) -> list[UUID]:
        """The batches that have not ended, wherever they run (the recorder keeps an index for it)."""
        return self.recorder.select_unfinished_batch_ids()  # type: ignore[attr-defined,no-any-return]

    def forget(self, aggregate_ids: Sequence[UUID]) -> None:
        with self._cache_lock:
            for aggregate_id in aggregate_ids:
                self._uncache(aggregate_id)

    @property
    def cached_bytes(self) -> int:
        """What the cached aggregates weigh together (``estimated_bytes``)."""
        return self._cached_bytes

    # -- writing --------------------------------------------------------------------------------

    def prepare(self, group: Sequence[Aggregate]) -> Any:
        """One command's aggregates made ready for ``write``: their pending events collected and
        encoded, their runtime changes worked out. Done by the thread that decided the command, so
        that a group commit's writer has as little to do as possible."""
        saved = [(aggregate, aggregate.collect_events()) for aggregate in group]
        try:
            stored = [self.mapper.to_stored_event(event) for _, events in saved for event in events]
        except UnicodeEncodeError:
            # JSON text may escape half of a surrogate pair ("\ud800"); no UTF-8 holds one alone.
            raise BadRequest(
                "Text in the request is not valid Unicode: it holds an unpaired surrogate (U+D800 to U+DFFF)"
            ) from None
        return self.recorder.prepare_group(stored, saved)  # type: ignore[attr-defined]

    def write(self, groups: Sequence[Any]) -> list[bool]:
        """Write prepared groups in one transaction; one result per group."""
        accepted: list[bool] = self.recorder.insert_event_groups(groups)  # type: ignore[attr-defined]
        # Weighed before the lock is taken: only the bookkeeping waits for it.
        written = [
            (aggregate, estimated_bytes(aggregate) if ok and not getattr(aggregate, "is_removed", False) else None)
            for ok, group in zip(accepted, groups)
            for aggregate in group.aggregates
        ]
        with self._cache_lock:
            for aggregate, weight in written:
                self._uncache(aggregate.id)
                if weight is not None and weight <= self._cache_budget:
                    self._cache[aggregate.id] = (aggregate, weight)
                    self._cached_bytes += weight
            while len(self._cache) > CACHE_SIZE or self._cached_bytes > self._cache_budget:
                _, (_, weight) = self._cache.popitem(last=False)
                self._cached_bytes -= weight
        return accepted

    def _uncache(self, aggregate_id: UUID) -> None:
        """Drop one aggregate from the cache; the caller holds the cache's lock."""
        entry = self._cache.pop(aggregate_id, None)
        if entry is not None:
            self._cached_bytes -= entry[1]

    def commit(self, groups: Sequence[Sequence[Aggregate]]) -> list[bool]:
        """Write each group's pending events and runtime rows; one transaction, one result per group."""
        return self.write([self.prepare(group) for group in groups])

    def close(self) -> None:
        # The recorder may keep connections of its own for writing (PostgreSQL); they go back to
        # the library's pool before it closes. (The library's in-memory recorder keeps none.)
        close_commit_connections = getattr(self.recorder, "close_commit_connections", None)
        try:
            if close_commit_connections is not None:
                close_commit_connections()
        finally:
            super().close()


def estimated_bytes(aggregate: Aggregate) -> int:
    """What a cached aggregate keeps in memory, roughly: a fixed part, its strings (the error
    details, ...) by their length, and its variables (mappings of name to stored value, or of
    name to text) by their names and texts. Only the aggregate's own fields and one level of
    their mappings are looked at, which is where extask's aggregates keep what can be large: the
    cost is a few microseconds, not a walk through every object."""
    weight = AGGREGATE_BYTES
    for value in aggregate.__dict__.values():
        kind = type(value)
        if kind is str:
            weight += getsizeof(value)  # text beyond Latin-1 takes 2 or 4 bytes a character
        elif kind is dict:
            for name, item in value.items():
                weight += VARIABLE_BYTES + (len(name) if type(name) is str else 0)
                if type(item) is dict:
                    text = item.get("value")
                    if type(text) is str:
                        weight += getsizeof(text)
                elif type(item) is str:
                    weight += getsizeof(item)
    return weight


def _copy(aggregate: Aggregate) -> Aggregate:
    """A private copy: aggregates replace their nested values rather than mutate them, so copying
    their top-level containers is enough, and far cheaper than a deep copy."""
    clone: Any = object.__new__(type(aggregate))
    state = aggregate.__dict__.copy()
    for name, value in state.items():
        if isinstance(value, (dict, list)):
            state[name] = value.copy()  # the same keys: changing values while iterating is safe
    clone.__dict__ = state
    return clone
