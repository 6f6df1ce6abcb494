"""The group committer: who hears of what when a shared transaction fails.

The writer is given a fake database: groups are plain strings, a batch is a list of them. A
caller's requests are made to queue up behind a transaction in progress, so that they share the
next one.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from extask.application.errors import BadRequest
from extask.application.group_commit import GroupCommitter


class ValueTooLarge(Exception):
    """What a database raises for a value over one of its limits: no BadRequest, yet one caller's doing."""


class FakeDatabase:
    """Writes batches of string groups; refuses a batch holding "bad" values, fails on one holding
    "huge" ones, or fails outright. Its first write waits at ``gate``, so the callers after it
    queue up."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []  # the batches written (or refused)
        self.attempts: list[list[str]] = []  # every batch tried, failed ones too
        self.gate = threading.Event()
        self.writing = threading.Event()
        self.down = False

    def write(self, groups: list[str]) -> list[bool]:
        self.writing.set()
        self.gate.wait()
        self.attempts.append(list(groups))
        if self.down:
            raise ConnectionError("the database went away")
        self.transactions.append(list(groups))
        if any(group.startswith("bad") for group in groups):
            raise BadRequest(f"refused: {groups}")
        if any(group.startswith("huge") for group in groups):
            raise ValueTooLarge(f"index row too large: {groups}")
        return [not group.startswith("stale") for group in groups]


def queued_behind_a_transaction(database: FakeDatabase, committer: GroupCommitter, callers: list[list[str]]) -> list:
    """Commit ``["first"]`` in a thread and, while its transaction waits, the callers' groups as
    coroutines: they all queue before the gate opens. The callers' outcomes, results or errors."""
    def commit_first() -> None:
        try:
            committer.commit(["first"])
        except ConnectionError:
            pass  # the database is down: this caller hears of it too

    first = threading.Thread(target=commit_first)
    first.start()
    database.writing.wait()

    async def callers_together() -> list:
        pending = [asyncio.ensure_future(committer.commit_async(groups)) for groups in callers]
        await asyncio.sleep(0)  # each has handed its groups over and awaits its answer
        database.gate.set()
        return await asyncio.gather(*pending, return_exceptions=True)

    outcomes = asyncio.run(callers_together())
    first.join()
    return outcomes


@pytest.fixture
def database():
    return FakeDatabase()


@pytest.fixture
def committer(database):
    committer = GroupCommitter(lambda group: group, database.write)
    yield committer
    database.gate.set()
    committer.close()


def test_callers_queued_together_share_one_transaction(database, committer):
    outcomes = queued_behind_a_transaction(database, committer, [["a"], ["b", "stale-c"], ["d"]])

    assert outcomes == [[True], [True, False], [True]]
    assert database.transactions == [["first"], ["a", "b", "stale-c", "d"]]


def test_a_caller_whose_values_are_refused_fails_alone(database, committer):
    outcomes = queued_behind_a_transaction(database, committer, [["a"], ["bad-b"], ["c", "d"]])

    assert outcomes[0] == [True] and outcomes[2] == [True, True]
    assert isinstance(outcomes[1], BadRequest)
    # The shared transaction was refused as a whole; then each caller was written on its own.
    assert database.transactions == [["first"], ["a", "bad-b", "c", "d"], ["a"], ["bad-b"], ["c", "d"]]


def test_a_caller_whose_values_the_database_fails_on_fails_alone(database, committer):
    """Not a refusal extask foresaw (a BadRequest), but still one caller's doing: the others commit."""
    outcomes = queued_behind_a_transaction(database, committer, [["a"], ["huge-b"], ["c"]])

    assert outcomes[0] == [True] and outcomes[2] == [True]
    assert isinstance(outcomes[1], ValueTooLarge)
    assert database.attempts == [["first"], ["a", "huge-b", "c"], ["a"], ["huge-b"], ["c"]]


def test_a_failing_database_fails_every_caller_each_tried_on_its_own(database, committer):
    database.down = True
    outcomes = queued_behind_a_transaction(database, committer, [["a"], ["b"]])

    assert [type(outcome) for outcome in outcomes] == [ConnectionError, ConnectionError]
    assert database.attempts == [["first"], ["a", "b"], ["a"], ["b"]]


def test_a_caller_queued_after_the_writers_last_batch_is_refused_not_left_waiting(database, committer):
    database.gate.set()
    committer.commit(["first"])
    committer.close()
    # As if this caller had passed the writer check just before close(): it queues anyway.
    committer._ensure_writer = lambda: None
    outcome: list[BaseException] = []

    def late_caller() -> None:
        try:
            committer.commit(["late"])
        except RuntimeError as error:
            outcome.append(error)

    caller = threading.Thread(target=late_caller)
    caller.start()
    caller.join(timeout=10)  # only a regression waits this long
    assert not caller.is_alive(), "the late caller was left waiting"
    assert [str(error) for error in outcome] == ["the engine is closed"]
    assert database.transactions == [["first"]]


class TwoTransactionsAtOnce:
    """A database whose first transaction waits at ``gate``; the ones after it go straight through."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.first_writing = threading.Event()
        self.transactions: list[list[str]] = []
        self._lock = threading.Lock()

    def write(self, groups: list[str]) -> list[bool]:
        with self._lock:
            first = not self.first_writing.is_set()
            self.first_writing.set()
        if first:
            self.gate.wait()
        with self._lock:
            self.transactions.append(list(groups))
        return [True] * len(groups)


def test_with_two_writers_a_caller_commits_while_another_transaction_is_in_flight():
    database = TwoTransactionsAtOnce()
    committer = GroupCommitter(lambda group: group, database.write, writers=2)
    first = threading.Thread(target=committer.commit, args=(["first"],))
    first.start()
    database.first_writing.wait()
    second: list[list[bool]] = []
    caller = threading.Thread(target=lambda: second.append(committer.commit(["second"])))
    caller.start()
    caller.join(timeout=10)  # only a regression waits this long: one writer would be stuck behind "first"
    try:
        assert second == [[True]], "the second caller waited for the first transaction"
        assert database.transactions == [["second"]]
    finally:
        database.gate.set()
        first.join()
        caller.join()
        committer.close()
    assert database.transactions == [["second"], ["first"]]


def test_close_stops_every_writer_and_refuses_callers_after_it():
    database = FakeDatabase()
    database.gate.set()
    before = set(threading.enumerate())
    committer = GroupCommitter(lambda group: group, database.write, writers=3)
    committer.commit(["a"])
    writers = [t for t in set(threading.enumerate()) - before if t.name.startswith("extask-group-commit")]
    assert len(writers) == 3

    committer.close()

    assert not any(writer.is_alive() for writer in writers)
    with pytest.raises(RuntimeError, match="the engine is closed"):
        committer.commit(["b"])


def test_a_committer_needs_a_writer():
    with pytest.raises(ValueError, match="at least one writer"):
        GroupCommitter(lambda group: group, lambda groups: [], writers=0)


def test_what_a_coroutine_holds_for_its_write_is_let_go_when_the_write_is_over_even_if_it_was_cancelled(
    database, committer
):
    let_go = threading.Event()

    async def cancelled_while_written() -> None:
        pending = asyncio.ensure_future(committer.commit_async(["a"], when_written=let_go.set))
        await asyncio.to_thread(database.writing.wait)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert not let_go.is_set()  # the write is still under way

    asyncio.run(cancelled_while_written())
    database.gate.set()
    assert let_go.wait(timeout=10)
    assert database.transactions == [["a"]]


def test_what_a_coroutine_holds_is_let_go_when_its_groups_never_reach_a_writer(database, committer):
    def refuse(group):
        raise BadRequest("unstorable")

    refusing = GroupCommitter(refuse, database.write)
    released: list[str] = []
    with pytest.raises(BadRequest):
        asyncio.run(refusing.commit_async(["a"], when_written=lambda: released.append("a")))
    asyncio.run(refusing.commit_async([], when_written=lambda: released.append("nothing")))
    assert released == ["a", "nothing"]
    refusing.close()
