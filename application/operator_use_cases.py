"""The commands operators send: set retries (of one task, of several at once, of each on its own), priorities, incident annotations.

``set_retries_many`` (``PUT /external-task/retries``) sets the retries of all its tasks in one
transaction, all or none, so it takes at most ``Limits.items_per_batch`` of them, counting the
ids given and those its queries found: more is refused with a 400 naming the limit, as
``retries-async`` does (see ``batches``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from eventsourcing.domain import Aggregate

from extask.application.arguments import check
from extask.application.command_bus import CommandBus
from extask.application.errors import ApplicationError, BadRequest, NotFound
from extask.application.limits import Limits, check_count
from extask.application.ports import RuntimeReadModel
from extask.application.queries import IncidentQuery, Page
from extask.application.unit_of_work import UnitOfWork
from extask.domain.errors import DomainError, ensure_not_null
from extask.domain.external_task import ExternalTask


class OperatorUseCases(CommandBus):
    _runtime: RuntimeReadModel
    limits: Limits

    def set_retries(self, task_id: str, retries: int) -> None:
        """Set one task's retries: 0 creates an incident, more than 0 resolves it."""
        check(ensure_not_null, "externalTaskId", task_id)
        self._check_retries(retries)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.set_retries(retries, now)
            return [task]

        self._run(command, key=task_id, tasks_may_be_available=retries > 0)

    def set_retries_many(self, task_ids: Iterable[str], retries: int) -> None:
        """Set the retries of several tasks, all or none."""
        try:
            self._check_retries(retries)
        except BadRequest as error:
            # The bulk endpoint reports the same refusal as an InvalidRequestException.
            raise BadRequest(error.message, "InvalidRequestException") from None
        ids = list(dict.fromkeys(task_ids or []))
        if not ids:
            raise BadRequest("externalTaskIds is empty")
        check_count(len(ids), self.limits.items_per_batch, "Tasks to set the retries of", "items_per_batch")
        if any(task_id is None for task_id in ids):
            raise BadRequest("External task id cannot be null: externalTaskIds contains null value")

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            tasks = []
            for task_id in ids:
                task = load.find_task(task_id)
                if task is None or task.is_removed:
                    raise NotFound(
                        f"Cannot find external task with id {task_id}: externalTask is null",
                        "InvalidRequestException",
                    )
                task.set_retries(retries, now)
                tasks.append(task)
            return tasks

        self._run(command, tasks_may_be_available=retries > 0)

    def set_retries_each(self, task_ids: Sequence[str], retries: int) -> list[Exception | None]:
        """Set each task's retries as its own command, and say per task what became of it (None:
        done; else what ``set_retries`` would have raised). As many as can be are written in one
        transaction (``_set_retries_at_once``); every other one (unknown, refused, busy, changed
        meanwhile, or in a transaction that failed) goes through ``set_retries`` alone, so one
        task's outcome never depends on another's."""
        try:
            self._check_retries(retries)
        except ApplicationError as error:
            return [error] * len(task_ids)
        outcomes: dict[str, Exception | None] = dict.fromkeys(self._set_retries_at_once(task_ids, retries))
        for task_id in task_ids:
            if task_id in outcomes:
                continue
            try:
                self.set_retries(task_id, retries)
                outcomes[task_id] = None
            except Exception as error:  # the caller records it as this task's outcome
                outcomes[task_id] = error
        return [outcomes[task_id] for task_id in task_ids]

    def _set_retries_at_once(self, task_ids: Sequence[str], retries: int) -> set[str]:
        """The tasks whose retries could be set without waiting: decided on state no other command
        here is busy with and written in one transaction, each its own group. When anything fails,
        none is: nothing was written, or what was is decided again on fresh state."""
        held, free = self._hold_free_stripes([t for t in dict.fromkeys(task_ids) if t is not None])
        try:
            now = self._now()  # once the stripes are held: no command here commits before it
            decided: dict[str, ExternalTask] = {}
            for task_id, task in UnitOfWork(self._event_store, fresh=False).find_tasks(free).items():
                if task.is_removed:
                    continue
                try:
                    task.set_retries(retries, now)
                except DomainError:
                    continue  # refused, perhaps on stale state: decided alone
                decided[task_id] = task
            accepted = self._committer.commit([[task] for task in decided.values()])
        except Exception:  # e.g. the database refused one group's values, which fails them all
            return set()
        finally:
            for lock in held:
                lock.release()
            with self._claims_lock:
                self._claims_in_flight -= len(free)
        done = {task_id for task_id, ok in zip(decided, accepted) if ok}
        if done and retries > 0:
            self._availability.notify()
        return done

    def _check_retries(self, retries: int | None) -> None:
        if retries is None:
            raise BadRequest("The number of retries cannot be null.")
        check(ExternalTask.check_retries, retries)

    def set_priority(self, task_id: str, priority: int) -> None:
        check(ensure_not_null, "externalTaskId", task_id)
        check(ensure_not_null, "priority", priority)
        check(ExternalTask.check_priority, priority)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.set_priority(priority, now)
            return [task]

        self._run(command, key=task_id)

    def set_incident_annotation(self, incident_id: str, annotation: str | None) -> None:
        """Note something on an open incident for operators (None clears it); an event like any other."""
        found = self._runtime.query_incidents(IncidentQuery(incident_id=incident_id), Page())
        if not found:
            raise NotFound(f"Cannot find an incident with id '{incident_id}': incident is null", "InvalidRequestException")
        task_id = found[0].configuration

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.annotate_incident(incident_id, annotation, now)
            return [task]

        self._run(command, key=task_id)
