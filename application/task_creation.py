"""Creating tasks: each new task joins its process instance, which is started if it does not exist yet.

``create_many`` (``POST /external-task/create/batch``) takes at most ``Limits.items_per_batch``
tasks, and every variable at most ``Limits.variable_bytes``: the tasks are written in one
transaction, all or none, so their number is what one request may ask of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

from eventsourcing.domain import Aggregate

from extask.application.arguments import check, check_name, stored_variables
from extask.application.command_bus import CommandBus
from extask.application.dto import ExternalTaskDTO, NewExternalTask
from extask.application.limits import Limits, check_count
from extask.application.unit_of_work import UnitOfWork
from extask.domain.external_task import ExternalTask
from extask.domain.process_instance import ProcessInstance


class TaskCreation(CommandBus):
    limits: Limits

    def create(self, task: NewExternalTask) -> ExternalTaskDTO:
        """Create one task; its process instance is started if it does not exist yet."""
        return self.create_many([task])[0]

    def create_many(self, tasks: Sequence[NewExternalTask]) -> list[ExternalTaskDTO]:
        """Create several tasks, all or none."""
        check_count(len(tasks), self.limits.items_per_batch, "Tasks to create", "items_per_batch")
        prepared = [self._prepare_new_task(spec) for spec in tasks]

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            instances: dict[str, ProcessInstance] = {}
            created: list[Aggregate] = []
            for spec, task_id, ids, variables, local_variables in prepared:
                instance_id = ids["process_instance_id"]
                instance = instances.get(instance_id)
                if instance is None and not ids["new_instance"]:
                    instance = load.find_instance(instance_id)
                if instance is None:
                    instance = ProcessInstance.start(
                        now=now,
                        process_instance_id=instance_id,
                        business_key=spec.business_key,
                        process_definition_id=spec.process_definition_id,
                        process_definition_key=spec.process_definition_key,
                        tenant_id=spec.tenant_id,
                        variables=variables,
                    )
                else:
                    instance.set_variables(now, variables)
                instances[instance_id] = instance
                created.append(
                    ExternalTask.create(
                        now=now,
                        task_id=task_id,
                        topic_name=spec.topic_name,
                        process_instance_id=instance_id,
                        process_definition_id=spec.process_definition_id
                        or instance.process_definition_id,
                        process_definition_key=spec.process_definition_key
                        or instance.process_definition_key,
                        process_definition_version_tag=spec.process_definition_version_tag,
                        activity_id=spec.activity_id,
                        activity_instance_id=ids["activity_instance_id"],
                        execution_id=ids["execution_id"],
                        business_key=instance.business_key,
                        tenant_id=spec.tenant_id if spec.tenant_id is not None else instance.tenant_id,
                        priority=spec.priority,
                        retries=spec.retries,
                        suspended=instance.suspended,
                        extension_properties=spec.extension_properties,
                        local_variables=local_variables,
                    )
                )
            return [*created, *instances.values()]

        saved = self._run(command, tasks_may_be_available=True)
        return [ExternalTaskDTO.from_task(t) for t in saved if isinstance(t, ExternalTask)]

    def _prepare_new_task(self, spec: NewExternalTask) -> tuple[Any, ...]:
        check(ExternalTask.check_creation_arguments, spec.topic_name, spec.priority, spec.retries)
        for name, value in (
            ("topicName", spec.topic_name), ("processInstanceId", spec.process_instance_id),
            ("processDefinitionId", spec.process_definition_id), ("processDefinitionKey", spec.process_definition_key),
            ("processDefinitionVersionTag", spec.process_definition_version_tag), ("activityId", spec.activity_id),
            ("activityInstanceId", spec.activity_instance_id), ("executionId", spec.execution_id),
            ("businessKey", spec.business_key), ("tenantId", spec.tenant_id),
        ):
            check_name(name, value, self.limits)
        # Ids are chosen once, outside the retry loop, so a retried save creates the same task.
        ids = {
            "process_instance_id": spec.process_instance_id or str(uuid4()),
            "activity_instance_id": spec.activity_instance_id
            or f"{spec.activity_id or spec.topic_name}:{uuid4()}",
            "execution_id": spec.execution_id or str(uuid4()),
            # An id we generate names no existing instance: no need to look for one.
            "new_instance": spec.process_instance_id is None,
        }
        variables = stored_variables(spec.variables, self.limits)
        local_variables = stored_variables(spec.local_variables, self.limits)
        return spec, uuid4(), ids, variables, local_variables
