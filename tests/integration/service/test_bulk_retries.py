"""Setting the retries of many tasks: selected by ids, process instance ids, an external task
query and (historic) process instance queries, now and all-or-nothing, or in a background batch
that records the outcome for every task (spec 2.12, 3.7, 1.6).

Ported from Camunda's SetExternalTasksRetriesTest and ExternalTaskServiceTest (spec 5.1 #138-#145).
"""

from __future__ import annotations

import pytest

from extask.application.dto import NewExternalTask
from extask.application.errors import BadRequest, NotFound
from extask.application.queries import (
    ExternalTaskQuery,
    ProcessInstanceFilter,
    RetriesSelection,
)
from extask.infrastructure.bootstrap import build_engine

from .helpers import (
    ONE_TASK_PROCESS,
    PRIORITY_PROCESS,
    TOPIC_NAME,
    WORKER_ID,
    event_names,
    fetch,
    incidents,
    raises,
)

RETRIES = 5


@pytest.fixture
def instance_ids(service):
    """Four instances of the one-task process (business keys 0-3) and one of the two-task process."""
    for i in range(4):
        service.create(NewExternalTask(topic_name=TOPIC_NAME, process_instance_id=f"one-{i}", business_key=str(i),
                                       process_definition_key=ONE_TASK_PROCESS))
    service.create_many(
        [NewExternalTask(topic_name=TOPIC_NAME, process_instance_id="two", process_definition_key=PRIORITY_PROCESS,
                         activity_id=activity) for activity in ("externalTaskWithPrio", "externalTaskWithoutPrio")]
    )
    return ["one-0", "one-1", "one-2", "one-3", "two"]


def all_ids(service) -> list[str]:
    return [task.id for task in service.query_tasks(ExternalTaskQuery())]


def retries_by_instance(service) -> dict[str, list[int | None]]:
    found: dict[str, list[int | None]] = {}
    for task in service.query_tasks(ExternalTaskQuery(sorting=[("processInstanceId", "asc")])):
        found.setdefault(task.process_instance_id, []).append(task.retries)
    return found


def set_retries(service, retries: int, **selectors) -> None:
    service.set_retries_many(service.external_task_ids(RetriesSelection(**selectors)), retries)


def run_batch(engine, retries: int, **selectors):
    batch = engine.batches.set_retries_async(RetriesSelection(**selectors), retries)
    return engine.batches.wait_for(batch.id, timeout=60)


class TestSync:
    def test_set_external_task_retries_sync(self, service, instance_ids):
        set_retries(service, 10, external_task_ids=all_ids(service))

        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {10}

    def test_an_unknown_id_fails_the_whole_command(self, service, instance_ids):
        with raises(NotFound, "Cannot find external task with id nonExistingExternalTaskId: externalTask is null",
                    "InvalidRequestException"):
            set_retries(service, 10, external_task_ids=[*all_ids(service), "nonExistingExternalTaskId"])

        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {None}

    def test_a_null_id_is_refused(self, service, instance_ids):
        with raises(BadRequest, "External task id cannot be null: externalTaskIds contains null value"):
            set_retries(service, 10, external_task_ids=[*all_ids(service), None])

    def test_an_empty_selection_is_refused(self, service, instance_ids):
        with raises(BadRequest, "externalTaskIds is empty", "InvalidRequestException"):
            set_retries(service, 10)
        with raises(BadRequest, "externalTaskIds is empty"):
            set_retries(service, 10, external_task_ids=[], process_instance_ids=["unknown"])

    def test_negative_retries_are_refused(self, service, instance_ids):
        with raises(BadRequest, "The number of retries cannot be negative: retries is not greater than or equal to 0"):
            set_retries(service, -10, external_task_ids=all_ids(service))

    # 5.1 #138, #139
    def test_update_retries_by_external_task_ids(self, service, instance_ids):
        set_retries(service, RETRIES, external_task_ids=all_ids(service))

        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {RETRIES}

    # 5.1 #140, #141
    def test_update_retries_by_process_instance_ids(self, service, instance_ids):
        set_retries(service, RETRIES, process_instance_ids=["one-1", "two"])

        assert retries_by_instance(service) == {
            "one-0": [None], "one-1": [RETRIES], "one-2": [None], "one-3": [None], "two": [RETRIES, RETRIES]
        }

    # 5.1 #142
    def test_update_retries_by_external_task_query(self, service, instance_ids):
        set_retries(service, RETRIES, external_task_query=ExternalTaskQuery(process_definition_key=PRIORITY_PROCESS))

        assert retries_by_instance(service)["two"] == [RETRIES, RETRIES]
        assert service.count_tasks(ExternalTaskQuery(with_retries_left=True)) == 6

    # 5.1 #143
    def test_update_retries_by_process_instance_query(self, service, instance_ids):
        set_retries(service, RETRIES, process_instance_query=ProcessInstanceFilter(business_key="2"))

        assert retries_by_instance(service)["one-2"] == [RETRIES]
        assert service.count_tasks(ExternalTaskQuery(with_retries_left=True)) == 6

    # 5.1 #144
    def test_update_retries_by_historic_process_instance_query(self, service, instance_ids):
        set_retries(service, RETRIES, historic_process_instance_query=ProcessInstanceFilter())

        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {RETRIES}

    # 5.1 #145
    def test_update_retries_by_all_parameters(self, service, instance_ids):
        """The union of every selector: one instance each, the two-task instance by its id."""
        [first] = service.query_tasks(ExternalTaskQuery(process_instance_id="one-0"))

        set_retries(
            service, RETRIES,
            external_task_ids=[first.id],
            external_task_query=ExternalTaskQuery(process_instance_id="one-1"),
            process_instance_query=ProcessInstanceFilter(process_instance_ids=["one-2"]),
            historic_process_instance_query=ProcessInstanceFilter(process_instance_ids=["one-3"]),
            process_instance_ids=["two"],
        )

        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {RETRIES}

    def test_overlapping_selectors_set_each_task_once(self, engine, service, instance_ids):
        [task] = service.query_tasks(ExternalTaskQuery(process_instance_id="one-0"))

        ids = service.external_task_ids(
            RetriesSelection(external_task_ids=[task.id, task.id], process_instance_ids=["one-0"],
                             external_task_query=ExternalTaskQuery(process_instance_id="one-0"))
        )
        service.set_retries_many(ids, RETRIES)

        assert ids == [task.id]
        assert event_names(engine, task.id).count("RetriesSet") == 1

    def test_raising_retries_resolves_incidents(self, service, instance_ids):
        for locked in fetch(service, max_tasks=6):
            service.handle_failure(locked.task.id, WORKER_ID, error_message="down", retries=0)
        assert len(incidents(service)) == 6

        set_retries(service, RETRIES, external_task_query=ExternalTaskQuery(no_retries_left=True))

        assert incidents(service) == []


class TestAsync:
    def test_set_retries_with_list_async(self, engine, service, instance_ids):
        batch = run_batch(engine, RETRIES, external_task_ids=all_ids(service))

        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {RETRIES}
        assert (batch.total_jobs, batch.completed_jobs, batch.failed_jobs, batch.ended) == (6, 6, 0, True)

    def test_set_retries_with_query_async(self, engine, service, instance_ids):
        run_batch(engine, RETRIES, external_task_query=ExternalTaskQuery())

        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {RETRIES}

    def test_set_retries_with_list_and_query_async(self, engine, service, instance_ids):
        batch = run_batch(engine, RETRIES, external_task_ids=all_ids(service), external_task_query=ExternalTaskQuery())

        assert batch.total_jobs == 6
        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {RETRIES}

    def test_set_retries_with_different_list_and_query_async(self, engine, service, instance_ids):
        two = [t.id for t in service.query_tasks(ExternalTaskQuery(process_instance_id="two"))]

        run_batch(engine, 8, external_task_ids=two, external_task_query=ExternalTaskQuery(process_instance_id="one-0"))

        assert retries_by_instance(service) == {
            "one-0": [8], "one-1": [None], "one-2": [None], "one-3": [None], "two": [8, 8]
        }

    def test_update_retries_by_process_instance_and_historic_queries_async(self, engine, service, instance_ids):
        run_batch(engine, RETRIES, process_instance_query=ProcessInstanceFilter(),
                  historic_process_instance_query=ProcessInstanceFilter(process_instance_ids=["two"]))

        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {RETRIES}

    def test_an_unknown_id_fails_only_its_job(self, engine, service, instance_ids):
        """Found only when the batch runs, as in Camunda; the other tasks get their retries."""
        batch = run_batch(engine, 10, external_task_ids=[*all_ids(service), "nonExistingExternalTaskId"])

        assert (batch.total_jobs, batch.jobs_created, batch.completed_jobs, batch.failed_jobs) == (7, 7, 6, 1)
        [failure] = batch.failures
        assert (failure.external_task_id, failure.error_type, failure.error_message) == (
            "nonExistingExternalTaskId", "NotFoundException",
            "Cannot find external task with id nonExistingExternalTaskId: externalTask is null",
        )
        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {10}

    def test_negative_retries_fail_every_job(self, engine, service, instance_ids):
        batch = run_batch(engine, -10, external_task_ids=["externalTaskId"])

        [failure] = batch.failures
        assert failure.error_message == "The number of retries cannot be negative: retries is not greater than or equal to 0"
        assert (batch.completed_jobs, batch.failed_jobs, batch.ended) == (0, 1, True)

    def test_a_null_id_is_refused_at_once(self, engine, service, instance_ids):
        with raises(BadRequest, "External task id cannot be null: externalTaskIds contains null value"):
            engine.batches.set_retries_async(RetriesSelection(external_task_ids=[*all_ids(service), None]), 10)

    def test_an_empty_selection_is_refused_at_once(self, engine, instance_ids):
        with raises(BadRequest, "externalTaskIds is empty"):
            engine.batches.set_retries_async(RetriesSelection(), 10)

    def test_null_retries_are_refused_at_once(self, engine, service, instance_ids):
        with raises(BadRequest, "The number of retries cannot be null."):
            engine.batches.set_retries_async(RetriesSelection(external_task_ids=all_ids(service)), None)

    def test_set_retries_with_a_large_list(self, engine, service):
        """More than a thousand process instances, selected by a historic process instance query."""
        service.create_many(
            [NewExternalTask(topic_name=TOPIC_NAME, process_instance_id=f"large-{i}") for i in range(1010)]
        )

        batch = run_batch(engine, 3, historic_process_instance_query=ProcessInstanceFilter())

        assert (batch.total_jobs, batch.completed_jobs, batch.ended) == (1010, 1010, True)
        assert service.count_tasks(ExternalTaskQuery(no_retries_left=True)) == 0
        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {3}


class TestBatch:
    def test_the_batch_answered_at_once(self, engine, service, instance_ids):
        """Camunda's Batch: type, one job per task, no user, tenant or job definitions."""
        batch = engine.batches.set_retries_async(RetriesSelection(process_instance_ids=["two"]), RETRIES)

        assert batch.type == "set-external-task-retries"
        assert (batch.total_jobs, batch.invocations_per_batch_job, batch.batch_jobs_per_seed) == (2, 1, 100)
        assert (batch.suspended, batch.tenant_id, batch.create_user_id, batch.retries) == (False, None, None, RETRIES)
        engine.batches.wait_for(batch.id, timeout=60)

    def test_a_finished_batch_is_kept_with_its_times(self, engine, service, clock, instance_ids):
        batch = run_batch(engine, RETRIES, process_instance_ids=["one-0"])

        assert engine.batches.get_batch(batch.id) == batch
        assert batch.start_time == batch.execution_start_time == batch.end_time == clock.now

    def test_the_batch_is_an_audit_trail_of_events(self, engine, service, instance_ids):
        batch = run_batch(engine, RETRIES, external_task_ids=[*all_ids(service)[:2], "unknown"])

        assert event_names(engine, batch.id) == [
            "Created", "Started", "TaskRetriesSet", "TaskRetriesSet", "TaskFailed", "Completed"
        ]

    def test_an_unknown_batch(self, engine):
        with raises(NotFound, "Batch with id 'nope' does not exist", "InvalidRequestException"):
            engine.batches.get_batch("nope")

    def test_a_task_id_is_not_a_batch_id(self, engine, service, instance_ids):
        task_id = all_ids(service)[0]
        with raises(NotFound, f"Batch with id '{task_id}' does not exist"):
            engine.batches.get_batch(task_id)


class TestTaskByTask:
    """``set_retries_each``, which batches use: each task its own command and its own outcome,
    however many share a transaction."""

    def test_each_task_has_its_own_outcome(self, engine, service, instance_ids):
        first, second, gone, *_ = all_ids(service)
        fetch(service, max_tasks=10)
        service.complete(gone, WORKER_ID)

        outcomes = service.set_retries_each([first, "unknown", second, gone, None], RETRIES)

        assert [type(o).__name__ for o in outcomes] == ["NoneType", "NotFound", "NoneType", "NotFound", "BadRequest"]
        assert outcomes[1].message == "External task with id unknown does not exist"
        assert service.get_task(first).retries == service.get_task(second).retries == RETRIES

    def test_negative_retries_are_every_tasks_outcome_and_change_nothing(self, engine, service, instance_ids):
        ids = all_ids(service)

        outcomes = service.set_retries_each(ids, -1)

        assert {o.message for o in outcomes} == {
            "The number of retries cannot be negative: retries is not greater than or equal to 0"
        }
        assert {t.retries for t in service.query_tasks(ExternalTaskQuery())} == {None}

    def test_a_task_changed_elsewhere_since_it_was_cached_still_gets_its_retries(
        self, engine, service, instance_ids, database_url, clock
    ):
        task_id = all_ids(service)[0]
        service.get_task(task_id)  # cached here
        elsewhere = build_engine(database_url, clock=clock)
        try:
            elsewhere.service.set_priority(task_id, 9)
        finally:
            elsewhere.close()

        assert service.set_retries_each([task_id], RETRIES) == [None]
        assert (service.get_task(task_id).retries, service.get_task(task_id).priority) == (RETRIES, 9)
        assert event_names(engine, task_id).count("RetriesSet") == 1

    def test_the_tasks_decided_at_once_share_one_transaction_each_its_own_group(
        self, engine, service, instance_ids, monkeypatch
    ):
        recorder = engine.event_store.recorder
        transactions: list[int] = []
        write = recorder.insert_event_groups

        def counted(groups):
            transactions.append(len(groups))
            return write(groups)

        monkeypatch.setattr(recorder, "insert_event_groups", counted)

        assert service.set_retries_each(all_ids(service), RETRIES) == [None] * 6
        assert transactions == [6]

    def test_a_task_whose_write_the_database_refuses_fails_alone(self, engine, service, instance_ids, monkeypatch):
        ids = all_ids(service)
        recorder = engine.event_store.recorder
        prepare = recorder.prepare_group

        def refusing(events, saved):
            if any(str(aggregate.id) == ids[2] for aggregate, _ in saved):
                raise BadRequest("The database refused a value: a fault for this test")
            return prepare(events, saved)

        monkeypatch.setattr(recorder, "prepare_group", refusing)

        outcomes = service.set_retries_each(ids, RETRIES)

        assert [o is None for o in outcomes] == [True, True, False, True, True, True]
        assert outcomes[2].message == "The database refused a value: a fault for this test"
        assert [service.get_task(t).retries for t in ids] == [RETRIES, RETRIES, None, RETRIES, RETRIES, RETRIES]
