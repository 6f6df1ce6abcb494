"""Sizes one command may ask for: a variable's value (``Limits.variable_bytes``) and the items of a
bulk command (``Limits.items_per_batch``: create/batch, retries, retries-async, counting the
tasks a query finds). Beyond a limit the command is refused with a 400 naming it, and nothing is
written.
"""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest

from extask.application.dto import NewExternalTask
from extask.application.errors import BadRequest
from extask.application.limits import Limits
from extask.application.queries import ExternalTaskQuery, ProcessInstanceFilter, RetriesSelection
from extask.domain.variables import TypedValue, typed_value
from extask.infrastructure.bootstrap import build_engine

from .helpers import TOPIC_NAME, WORKER_ID, create_task, fetch_one, new_process_instance_id, position, raises

VARIABLE_BYTES = 1000
ITEMS = 3


@pytest.fixture
def limited(database_url, clock):
    """An engine with small limits: variables of 1,000 bytes, bulk commands of 3 items."""
    engine = build_engine(database_url, clock=clock, limits=Limits(variable_bytes=VARIABLE_BYTES, items_per_batch=ITEMS))
    yield engine
    engine.close()


def too_large(name: str, size: int, limit: int = VARIABLE_BYTES) -> str:
    return f"Bytes of variable '{name}': {size} is more than the limit of {limit} (variable_bytes)"


def too_many(what: str, count: int, limit: int = ITEMS) -> str:
    return f"{what}: {count} is more than the limit of {limit} (items_per_batch)"


class TestVariableSizeOnCreate:
    @pytest.mark.parametrize(
        "largest, refused, size",
        [
            pytest.param("x" * 1000, "x" * 1001, 1001, id="ascii-text"),
            pytest.param("é" * 500, "é" * 501, 1002, id="text-of-two-byte-characters"),
            pytest.param("\U0001d11e" * 250, "\U0001d11e" * 251, 1004, id="text-of-four-byte-characters"),
            pytest.param({"list": ["y" * 987]}, {"list": ["y" * 988]}, 1001, id="json"),
            pytest.param(b"\xff" * 1000, b"\xff" * 1001, 1001, id="bytes"),
            pytest.param(b"\xff" * 998, b"\xff" * 1002, 1002, id="bytes-with-base64-padding"),
        ],
    )
    def test_a_variable_beyond_the_limit_is_refused_and_nothing_is_written(self, limited, largest, refused, size):
        task = create_task(limited.service, variables={"document": largest})
        assert limited.service.get_process_variables(task.process_instance_id)["document"].to_python() == largest
        before = position(limited)
        with raises(BadRequest, too_large("document", size), "InvalidRequestException"):
            create_task(limited.service, variables={"document": refused})
        assert position(limited) == before

    def test_a_file_variable_is_measured_by_its_bytes_not_its_base64(self, limited):
        def upload(size: int) -> TypedValue:
            return typed_value(base64.b64encode(b"f" * size).decode(), "File", {"filename": "a.bin"})

        create_task(limited.service, variables={"upload": upload(1000)})  # 1,336 characters of base64
        with raises(BadRequest, too_large("upload", 1001)):
            create_task(limited.service, variables={"upload": upload(1001)})

    def test_a_local_variable_beyond_the_limit_is_refused(self, limited):
        before = position(limited)
        with raises(BadRequest, too_large("note", 1001)):
            create_task(limited.service, local_variables={"note": "n" * 1001})
        assert position(limited) == before

    def test_one_large_variable_in_a_batch_of_tasks_creates_none_of_them(self, limited):
        instance_id = new_process_instance_id()
        tasks = [
            NewExternalTask(topic_name=TOPIC_NAME, process_instance_id=instance_id, variables={"small": "s"}),
            NewExternalTask(topic_name=TOPIC_NAME, process_instance_id=instance_id, variables={"large": "l" * 1001}),
        ]
        before = position(limited)
        with raises(BadRequest, too_large("large", 1001)):
            limited.service.create_many(tasks)
        assert position(limited) == before
        assert limited.service.query_tasks(ExternalTaskQuery(process_instance_id=instance_id)) == []

    def test_a_long_variable_name_is_cut_in_the_message(self, limited):
        name = "n" * 300
        with raises(BadRequest, too_large("n" * 100 + "...", 1001)):
            create_task(limited.service, variables={name: "v" * 1001})


class TestVariableSizeOnProcessInstances:
    def test_setting_a_variable_beyond_the_limit_changes_nothing(self, limited):
        task = create_task(limited.service, variables={"document": "first"})
        before = position(limited)
        with raises(BadRequest, too_large("document", 1001)):
            limited.service.set_process_variables(task.process_instance_id, {"document": "d" * 1001, "other": 1})
        assert position(limited) == before
        variables = limited.service.get_process_variables(task.process_instance_id)
        assert {name: value.value for name, value in variables.items()} == {"document": "first"}


class TestVariableSizeOnWorkerCommands:
    """The worker commands refuse a variable, or error details, beyond the configured limit."""

    @pytest.fixture
    def huge(self):
        return "h" * (VARIABLE_BYTES + 1)

    @pytest.mark.parametrize("asynchronously", [False, True], ids=["sync", "async"])
    def test_a_completion_with_a_variable_beyond_the_limit_completes_nothing(self, limited, huge, asynchronously):
        service = limited.service
        create_task(service)
        locked = fetch_one(service)
        before = position(limited)
        complete = service.complete_async if asynchronously else service.complete
        with raises(BadRequest, too_large("result", VARIABLE_BYTES + 1)):
            outcome = complete(locked.task.id, WORKER_ID, {"result": huge})
            if asynchronously:
                asyncio.run(outcome)
        assert position(limited) == before
        assert service.get_task(locked.task.id).worker_id == WORKER_ID

    def test_a_failure_with_a_local_variable_beyond_the_limit_is_not_recorded(self, limited, huge):
        create_task(limited.service)
        locked = fetch_one(limited.service)
        before = position(limited)
        with raises(BadRequest, too_large("trace", VARIABLE_BYTES + 1)):
            limited.service.handle_failure(locked.task.id, WORKER_ID, retries=1, local_variables={"trace": huge})
        assert position(limited) == before

    def test_a_failure_with_error_details_beyond_the_limit_is_not_recorded(self, limited, huge):
        create_task(limited.service)
        locked = fetch_one(limited.service)
        before = position(limited)
        message = f"Characters of errorDetails: {VARIABLE_BYTES + 1} is more than the limit of {VARIABLE_BYTES} (variable_bytes)"
        with raises(BadRequest, message):
            limited.service.handle_failure(locked.task.id, WORKER_ID, retries=1, error_details=huge)
        assert position(limited) == before

    def test_a_bpmn_error_with_a_variable_beyond_the_limit_is_not_recorded(self, limited, huge):
        create_task(limited.service)
        locked = fetch_one(limited.service)
        before = position(limited)
        with raises(BadRequest, too_large("why", VARIABLE_BYTES + 1)):
            limited.service.handle_bpmn_error(locked.task.id, WORKER_ID, "E1", variables={"why": huge})
        assert position(limited) == before


class TestItemsOfCreateBatch:
    def test_more_tasks_than_the_limit_are_refused_and_none_is_created(self, limited):
        assert len(limited.service.create_many([NewExternalTask(topic_name=TOPIC_NAME) for _ in range(ITEMS)])) == ITEMS
        before = position(limited)
        with raises(BadRequest, too_many("Tasks to create", ITEMS + 1), "InvalidRequestException"):
            limited.service.create_many([NewExternalTask(topic_name=TOPIC_NAME) for _ in range(ITEMS + 1)])
        assert position(limited) == before


@pytest.fixture
def four_tasks(limited):
    """Four tasks on their own topic, one more than the limit."""
    return [create_task(limited.service, topic="many").id for _ in range(ITEMS + 1)]


class TestItemsOfRetries:
    def test_more_ids_than_the_limit_are_refused_and_no_retries_set(self, limited, four_tasks):
        before = position(limited)
        with raises(BadRequest, too_many("Tasks to set the retries of", ITEMS + 1)):
            limited.service.set_retries_many(four_tasks, 5)
        assert position(limited) == before
        limited.service.set_retries_many(four_tasks[:ITEMS], 5)
        assert [limited.service.get_task(task_id).retries for task_id in four_tasks] == [5, 5, 5, None]

    def test_a_query_finding_more_tasks_than_the_limit_is_refused(self, limited, four_tasks):
        service = limited.service
        ids = service.external_task_ids(RetriesSelection(external_task_query=ExternalTaskQuery(topic_name="many")))
        with raises(BadRequest, too_many("Tasks to set the retries of", ITEMS + 1)):
            service.set_retries_many(ids, 5)
        assert [task.retries for task in service.query_tasks(ExternalTaskQuery(topic_name="many"))] == [None] * 4


    def test_a_query_reads_no_more_than_one_task_beyond_the_limit(self, limited):
        for _ in range(ITEMS + 3):
            create_task(limited.service, topic="plenty")
        selection = RetriesSelection(external_task_query=ExternalTaskQuery(topic_name="plenty"))
        assert len(limited.service.external_task_ids(selection)) == ITEMS + 1

    def test_more_process_instances_than_a_list_may_hold_are_refused(self, database_url, clock):
        engine = build_engine(database_url, clock=clock, limits=Limits(values_per_list=2))
        try:
            for _ in range(3):
                create_task(engine.service, topic="spread")
            selection = RetriesSelection(process_instance_query=ProcessInstanceFilter())
            with raises(BadRequest, "Process instances selected: 3 is more than the limit of 2 (values_per_list)"):
                engine.service.external_task_ids(selection)
        finally:
            engine.close()


class TestItemsOfRetriesAsync:
    def test_more_ids_than_the_limit_are_refused_and_no_batch_is_saved(self, limited, four_tasks):
        before = position(limited)
        with raises(BadRequest, too_many("External task ids of the batch", ITEMS + 1)):
            limited.batches.set_retries_async(RetriesSelection(external_task_ids=four_tasks), 5)
        assert position(limited) == before

    def test_a_query_finding_more_tasks_than_the_limit_is_refused(self, limited, four_tasks):
        selection = RetriesSelection(external_task_query=ExternalTaskQuery(topic_name="many"))
        before = position(limited)
        with raises(BadRequest, too_many("Tasks the batch selects", ITEMS + 1)):
            limited.batches.set_retries_async(selection, 5)
        assert position(limited) == before

    def test_ids_and_a_query_are_counted_together(self, limited, four_tasks):
        create_task(limited.service, topic="few")
        selection = RetriesSelection(
            external_task_ids=four_tasks[:2], external_task_query=ExternalTaskQuery(topic_name="few")
        )
        batch = limited.batches.set_retries_async(selection, 5)
        assert limited.batches.wait_for(batch.id).completed_jobs == 3
        with raises(BadRequest, too_many("Tasks the batch selects", ITEMS + 1)):
            limited.batches.set_retries_async(
                RetriesSelection(external_task_ids=four_tasks[:3], external_task_query=ExternalTaskQuery(topic_name="few")), 5
            )


class TestNameCharacters:
    """Ids and names a task is stored with are indexed; PostgreSQL refuses an index entry of more
    than about 2,700 bytes, so they are bounded well below (500 characters by default)."""

    LONGEST = Limits().name_characters

    @pytest.mark.parametrize("field", ["topic_name", "process_instance_id", "business_key", "execution_id", "tenant_id"])
    def test_an_id_or_name_at_the_limit_is_stored_even_of_four_byte_characters(self, engine, service, field):
        longest = "\U0001d11e" * (self.LONGEST - 1) + uuid.uuid4().hex[:1]
        task = service.create(NewExternalTask(**{"topic_name": "t", field: longest}))
        assert getattr(service.get_task(task.id), field) == longest

    @pytest.mark.parametrize(
        ("field", "camunda_name"),
        [("topic_name", "topicName"), ("process_instance_id", "processInstanceId"), ("activity_id", "activityId")],
    )
    def test_a_longer_one_is_refused_naming_the_limit_and_nothing_is_written(self, engine, service, field, camunda_name):
        before = position(engine)
        too_long = "n" * (self.LONGEST + 1)
        message = f"Characters of {camunda_name}: {self.LONGEST + 1} is more than the limit of {self.LONGEST} (name_characters)"
        with raises(BadRequest, message):
            service.create(NewExternalTask(**{"topic_name": "t", field: too_long}))
        assert position(engine) == before

    def test_a_variable_name_beyond_the_limit_is_refused(self, engine, service):
        before = position(engine)
        name = "v" * (self.LONGEST + 1)
        with raises(BadRequest) as refusal:
            create_task(service, variables={name: 1})
        assert "(name_characters)" in refusal.value.message
        assert position(engine) == before
