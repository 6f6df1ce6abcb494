"""Commands on process instances: suspend, activate or delete one with all its tasks, change its variables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from extask.application.arguments import stored_variables
from extask.application.command_bus import CommandBus
from extask.application.limits import Limits
from extask.application.ports import RuntimeReadModel
from extask.application.unit_of_work import UnitOfWork


class ProcessInstanceUseCases(CommandBus):
    _runtime: RuntimeReadModel
    limits: Limits

    def suspend_process_instance(self, process_instance_id: str) -> None:
        self._change_process_instance(process_instance_id, "suspend")

    def activate_process_instance(self, process_instance_id: str) -> None:
        self._change_process_instance(process_instance_id, "activate")

    def delete_process_instance(self, process_instance_id: str, reason: str | None = None) -> None:
        """Delete the instance; its tasks are deleted with deletion log entries and their incidents closed."""
        self._change_process_instance(process_instance_id, "delete", reason)

    def _change_process_instance(self, process_instance_id: str, action: str, *args: Any) -> None:
        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            instance = load.instance(process_instance_id)
            getattr(instance, action)(now, *args)
            tasks = [
                task
                for task_id in self._runtime.task_ids_of_process_instance(process_instance_id)
                if (task := load.find_task(task_id)) is not None and not task.is_removed
            ]
            for task in tasks:
                getattr(task, action)(now, *args)
            return [instance, *tasks]

        self._run(command, key=process_instance_id, tasks_may_be_available=action == "activate")

    def set_process_variables(
        self,
        process_instance_id: str,
        modifications: Mapping[str, Any] | None = None,
        deletions: Sequence[str] | None = None,
    ) -> None:
        typed = stored_variables(modifications, self.limits)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            instance = load.instance(process_instance_id)
            instance.set_variables(now, typed, list(deletions or []))
            return [instance]

        self._run(command, key=process_instance_id)
