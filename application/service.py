"""ExternalTaskService: one method per use case, named after Camunda's Java ExternalTaskService.

Commands load aggregates, let them decide, and commit every aggregate a command touched as one
group; concurrent commands share a transaction (group commit). A command that loses to a
concurrent writer is decided again on fresh state, so callers only ever see real conflicts
(another worker holds the lock). The worker commands a server answers all the time also come as
coroutines (``complete_async`` ...), which await the group commit without holding a thread. The
read side lives in ``reads.py``.
"""

from __future__ import annotations

import asyncio
import functools
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import uuid4

from eventsourcing.domain import Aggregate

from extask.application.dto import (
    ExternalTaskDTO,
    FetchAndLockRequest,
    FetchTopic,
    LockedExternalTaskDTO,
    NewExternalTask,
)
from extask.application.errors import (
    ApplicationError,
    BadRequest,
    ConcurrentModification,
    NotFound,
    from_domain_error,
)
from extask.application.event_store import ExternalTaskEventStore
from extask.application.group_commit import GroupCommitter
from extask.application.ports import (
    Clock,
    HistoryReadModel,
    RunSync,
    RuntimeReadModel,
    TaskAvailability,
)
from extask.application.queries import SORT_ORDERS, IncidentQuery, Page
from extask.application.reads import ExternalTaskReads
from extask.application.unit_of_work import NotCached, UnitOfWork
from extask.domain.errors import DomainError, ensure_not_null, ensure_positive, java_text
from extask.domain.external_task import ExternalTask, to_millisecond
from extask.domain.process_instance import ProcessInstance
from extask.domain.variables import InvalidVariableValue, TypedValue, typed_variables

MAX_SAVE_ATTEMPTS = 20
MAX_FETCH_ROUNDS = 5
COMMAND_LOCK_STRIPES = 1024

Command = Callable[[datetime, UnitOfWork], Sequence[Aggregate]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Claim:
    """The tasks one fetch has locked in memory, and the command-lock stripes it holds for them."""

    tasks: list[ExternalTask] = field(default_factory=list)
    locks: set[threading.Lock] = field(default_factory=set)


@dataclass(frozen=True)
class _Command:
    """A command ready to run: how it decides, the key of the aggregate its runs queue on, and
    whether it may make tasks fetchable (parked long polls are then told)."""

    decide: Command
    key: str
    tasks_may_be_available: bool = False


class _NoWakeUps:
    def notify(self) -> None:
        pass


class ExternalTaskService(ExternalTaskReads):
    def __init__(
        self,
        event_store: ExternalTaskEventStore,
        runtime: RuntimeReadModel,
        history: HistoryReadModel,
        clock: Clock = utc_now,
        availability: TaskAvailability | None = None,
        run_sync: RunSync = asyncio.to_thread,
        commit_writers: int = 1,
    ) -> None:
        self._event_store = event_store
        self._runtime = runtime
        self._history = history
        self._clock = clock
        self._availability = availability or _NoWakeUps()
        # Where the coroutine commands run when they must block (``_execute_async``).
        self._run_sync = run_sync
        self._committer = GroupCommitter(event_store.prepare, event_store.write, writers=commit_writers)
        # Commands on the same task queue up here instead of racing each other's commits; only
        # writers in other processes, or two commands of this one changing the same process
        # instance, can still conflict, and those are decided again.
        self._command_locks = [threading.Lock() for _ in range(COMMAND_LOCK_STRIPES)]
        # Tasks being claimed by fetches of this process right now: a fetch selects that many
        # more candidates, since it will find those busy.
        self._claims_in_flight = 0
        self._claims_lock = threading.Lock()

    def close(self) -> None:
        self._committer.close()

    # -- creation -------------------------------------------------------------------------------

    def create(self, task: NewExternalTask) -> ExternalTaskDTO:
        """Create one task; its process instance is started if it does not exist yet."""
        return self.create_many([task])[0]

    def create_many(self, tasks: Sequence[NewExternalTask]) -> list[ExternalTaskDTO]:
        """Create several tasks, all or none."""
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
        self._check(ExternalTask.check_creation_arguments, spec.topic_name, spec.priority, spec.retries)
        # Ids are chosen once, outside the retry loop, so a retried save creates the same task.
        ids = {
            "process_instance_id": spec.process_instance_id or str(uuid4()),
            "activity_instance_id": spec.activity_instance_id
            or f"{spec.activity_id or spec.topic_name}:{uuid4()}",
            "execution_id": spec.execution_id or str(uuid4()),
            # An id we generate names no existing instance: no need to look for one.
            "new_instance": spec.process_instance_id is None,
        }
        variables = self._typed(spec.variables)
        local_variables = self._typed(spec.local_variables)
        return spec, uuid4(), ids, variables, local_variables

    # -- worker commands ------------------------------------------------------------------------

    def fetch_and_lock(self, request: FetchAndLockRequest) -> list[LockedExternalTaskDTO]:
        """Lock up to ``max_tasks`` fetchable tasks of the requested topics for one worker.

        A task taken by a competing worker between selection and save is skipped, as in Camunda:
        the result may hold fewer than ``max_tasks`` tasks, but never an error.
        """
        request = self._validated_fetch_request(request)
        if request.max_tasks == 0 or not request.topics:
            return []
        topics = {topic.topic_name: topic for topic in request.topics}
        now = self._now()
        locked: list[ExternalTask] = []
        try:
            for _ in range(MAX_FETCH_ROUNDS):
                wanted = request.max_tasks - len(locked)
                claim, candidates = self._claim(request, topics, wanted, now)
                if not candidates:
                    break  # nothing fetchable is left
                won = self._commit_claims(claim)
                locked += won
                if len(locked) == request.max_tasks or len(candidates) < wanted:
                    break
                # Competing workers won some of these; look again at what is still free.
        except DomainError as error:
            raise from_domain_error(error) from None
        return self._locked_dtos(locked, topics)

    def _validated_fetch_request(self, request: FetchAndLockRequest) -> FetchAndLockRequest:
        self._check(ensure_not_null, "workerId", request.worker_id)
        if request.max_tasks is None or request.max_tasks < 0:
            raise BadRequest("maxResults is not greater than or equal to 0", "ProcessEngineException")
        for field_name, order in request.sorting:
            if field_name != "createTime":
                raise BadRequest(f"Cannot set query sortBy parameter to value {java_text(field_name)}")
            if order is None:
                raise BadRequest(
                    "Invalid query: call asc() or desc() after using orderByXX(): direction is null",
                    "NotValidException",
                )
            if order not in SORT_ORDERS:
                raise BadRequest(f"Cannot set query sortOrder parameter to value {java_text(order)}")
        topics: dict[str, FetchTopic] = {}
        for topic in request.topics:
            self._check(ensure_not_null, "topicName", topic.topic_name)
            self._check(ensure_positive, "lockTime", topic.lock_duration or 0)
            topics[topic.topic_name] = topic  # the same topic twice: the last one counts
        return FetchAndLockRequest(
            worker_id=request.worker_id,
            max_tasks=request.max_tasks,
            topics=list(topics.values()),
            use_priority=request.use_priority,
            sorting=list(request.sorting),
        )

    def _claim(
        self, request: FetchAndLockRequest, topics: Mapping[str, FetchTopic], wanted: int, now: datetime
    ) -> tuple[_Claim, list[tuple[str, str]]]:
        """Lock up to ``wanted`` candidates in memory, skipping tasks another command here is busy with."""
        with self._claims_lock:
            busy = self._claims_in_flight
        select = FetchAndLockRequest(
            worker_id=request.worker_id, max_tasks=wanted + busy, topics=request.topics,
            use_priority=request.use_priority, sorting=request.sorting,
        )
        candidates = self._runtime.select_fetchable(select, now)
        # The stripes first, then the tasks: a copy loaded before its stripe was held could miss
        # what a command here committed meanwhile, and its claim would only be refused.
        held, free = self._hold_free_stripes([task_id for task_id, _ in candidates])
        topic_of = dict(candidates)
        claim = _Claim()
        try:
            loaded = UnitOfWork(self._event_store, fresh=False).find_tasks(free)
            for task_id in free:
                if len(claim.tasks) == wanted:
                    break
                task = loaded.get(task_id)
                if task is None or not task.is_fetchable(now):
                    continue
                task.fetch_lock(request.worker_id, topics[topic_of[task_id]].lock_duration, now)
                claim.tasks.append(task)
                claim.locks.add(self._command_lock(task_id))
        except BaseException:
            claim = _Claim()  # nothing claimed: every stripe goes back
            raise
        finally:
            for lock in held - claim.locks:
                lock.release()
            with self._claims_lock:
                self._claims_in_flight -= len(free) - len(claim.tasks)
        return claim, candidates

    def _hold_free_stripes(self, task_ids: Sequence[str]) -> tuple[set[threading.Lock], list[str]]:
        """Take the stripes of those tasks that no other command here is busy with, without
        waiting; the stripes held and the tasks they free, which count as claims in flight (a
        fetch here meanwhile must look past them) until the caller takes them off."""
        held: set[threading.Lock] = set()
        free = []
        for task_id in task_ids:
            lock = self._command_lock(task_id)
            # Two tasks may share a stripe: one already held here is no obstacle.
            if lock in held or lock.acquire(blocking=False):
                held.add(lock)
                free.append(task_id)
        with self._claims_lock:
            self._claims_in_flight += len(free)
        return held, free

    def _commit_claims(self, claim: _Claim) -> list[ExternalTask]:
        """Each claimed task is its own group: one taken meanwhile by another process drops out alone."""
        try:
            accepted = self._committer.commit([[task] for task in claim.tasks])
        finally:
            for lock in claim.locks:
                lock.release()
            with self._claims_lock:
                self._claims_in_flight -= len(claim.tasks)
        return [task for task, ok in zip(claim.tasks, accepted) if ok]

    def _locked_dtos(
        self, tasks: Sequence[ExternalTask], topics: Mapping[str, FetchTopic]
    ) -> list[LockedExternalTaskDTO]:
        process_variables = self._runtime.process_variables(
            {t.process_instance_id for t in tasks if not topics[t.topic_name].local_variables}
        )
        result = []
        for task in tasks:
            topic = topics[task.topic_name]
            visible: dict[str, TypedValue] = {}
            if not topic.local_variables:
                visible.update(process_variables.get(task.process_instance_id, {}))
            visible.update(
                {name: TypedValue.from_dict(value) for name, value in task.local_variables.items()}
            )
            if topic.variables is not None:
                visible = {name: visible[name] for name in topic.variables if name in visible}
            result.append(
                LockedExternalTaskDTO(
                    task=ExternalTaskDTO.from_task(task),
                    error_details=task.error_details,
                    variables=visible,
                    extension_properties=dict(task.extension_properties)
                    if topic.include_extension_properties
                    else {},
                )
            )
        return result

    def lock(self, task_id: str, worker_id: str, lock_duration: int) -> None:
        self._check(ExternalTask.check_lock_arguments, worker_id, lock_duration)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.lock(worker_id, lock_duration, now)
            return [task]

        # May move the expiry earlier than a parked poll planned to look again.
        self._run(command, key=task_id, tasks_may_be_available=True)

    def extend_lock(self, task_id: str, worker_id: str, new_duration: int) -> None:
        self._execute(self._lock_extension(task_id, worker_id, new_duration))

    async def extend_lock_async(self, task_id: str, worker_id: str, new_duration: int) -> None:
        await self._execute_async(self._lock_extension(task_id, worker_id, new_duration))

    def _lock_extension(self, task_id: str, worker_id: str, new_duration: int) -> _Command:
        self._check(ExternalTask.check_extend_lock_arguments, worker_id, new_duration)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.extend_lock(worker_id, new_duration, now)
            return [task]

        # May move the expiry earlier than a parked poll planned to look again.
        return _Command(command, key=task_id, tasks_may_be_available=True)

    def unlock(self, task_id: str) -> None:
        self._check(ensure_not_null, "externalTaskId", task_id)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.unlock(now)
            return [task]

        self._run(command, key=task_id, tasks_may_be_available=True)

    def complete(
        self,
        task_id: str,
        worker_id: str,
        variables: Mapping[str, Any] | None = None,
        local_variables: Mapping[str, Any] | None = None,
    ) -> None:
        """Finish the task; ``variables`` go to its process instance, ``local_variables`` stay on the task."""
        self._execute(self._completion(task_id, worker_id, variables, local_variables))

    async def complete_async(
        self,
        task_id: str,
        worker_id: str,
        variables: Mapping[str, Any] | None = None,
        local_variables: Mapping[str, Any] | None = None,
    ) -> None:
        """``complete`` for a coroutine (see ``_execute_async``)."""
        await self._execute_async(self._completion(task_id, worker_id, variables, local_variables))

    def _completion(
        self, task_id: str, worker_id: str, variables: Mapping[str, Any] | None, local_variables: Mapping[str, Any] | None
    ) -> _Command:
        self._check(ensure_not_null, "workerId", worker_id)
        process_variables = self._typed(variables)
        task_variables = self._typed(local_variables)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.complete(worker_id, now, task_variables, variables=process_variables)
            return [task, *self._set_instance_variables(load, task, process_variables, now)]

        return _Command(command, key=task_id)

    def handle_failure(
        self,
        task_id: str,
        worker_id: str,
        *,
        error_message: str | None = None,
        error_details: str | None = None,
        retries: int = 0,
        retry_timeout: int = 0,
        variables: Mapping[str, Any] | None = None,
        local_variables: Mapping[str, Any] | None = None,
    ) -> None:
        """Report a failure; the worker keeps the task, which is fetchable again after ``retry_timeout`` ms."""
        self._execute(self._failure(task_id, worker_id, error_message, error_details, retries, retry_timeout, variables, local_variables))

    async def handle_failure_async(
        self,
        task_id: str,
        worker_id: str,
        *,
        error_message: str | None = None,
        error_details: str | None = None,
        retries: int = 0,
        retry_timeout: int = 0,
        variables: Mapping[str, Any] | None = None,
        local_variables: Mapping[str, Any] | None = None,
    ) -> None:
        """``handle_failure`` for a coroutine (see ``_execute_async``)."""
        await self._execute_async(
            self._failure(task_id, worker_id, error_message, error_details, retries, retry_timeout, variables, local_variables)
        )

    def _failure(
        self,
        task_id: str,
        worker_id: str,
        error_message: str | None,
        error_details: str | None,
        retries: int,
        retry_timeout: int,
        variables: Mapping[str, Any] | None,
        local_variables: Mapping[str, Any] | None,
    ) -> _Command:
        self._check(ExternalTask.check_failure_arguments, worker_id, retries, retry_timeout)
        process_variables = self._typed(variables)
        task_variables = self._typed(local_variables)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.handle_failure(
                worker_id,
                now,
                error_message=error_message,
                error_details=error_details,
                retries=retries,
                retry_timeout=retry_timeout,
                local_variables=task_variables,
                variables=process_variables,
            )
            return [task, *self._set_instance_variables(load, task, process_variables, now)]

        return _Command(command, key=task_id, tasks_may_be_available=retries > 0)

    def handle_bpmn_error(
        self,
        task_id: str,
        worker_id: str,
        error_code: str,
        *,
        error_message: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        """End the task with a business error; the code, message and variables are recorded for the application."""
        self._execute(self._bpmn_error(task_id, worker_id, error_code, error_message, variables))

    async def handle_bpmn_error_async(
        self,
        task_id: str,
        worker_id: str,
        error_code: str,
        *,
        error_message: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        """``handle_bpmn_error`` for a coroutine (see ``_execute_async``)."""
        await self._execute_async(self._bpmn_error(task_id, worker_id, error_code, error_message, variables))

    def _bpmn_error(
        self, task_id: str, worker_id: str, error_code: str, error_message: str | None, variables: Mapping[str, Any] | None
    ) -> _Command:
        self._check(ExternalTask.check_bpmn_error_arguments, worker_id, error_code)
        process_variables = self._typed(variables)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.handle_bpmn_error(
                worker_id, error_code, now, error_message=error_message, variables=process_variables
            )
            return [task, *self._set_instance_variables(load, task, process_variables, now)]

        return _Command(command, key=task_id)

    # -- operator commands ----------------------------------------------------------------------

    def set_retries(self, task_id: str, retries: int) -> None:
        """Set one task's retries: 0 creates an incident, more than 0 resolves it."""
        self._check(ensure_not_null, "externalTaskId", task_id)
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
        self._check(ExternalTask.check_retries, retries)

    def set_priority(self, task_id: str, priority: int) -> None:
        self._check(ensure_not_null, "externalTaskId", task_id)
        self._check(ensure_not_null, "priority", priority)
        self._check(ExternalTask.check_priority, priority)

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

    # -- process instances ----------------------------------------------------------------------

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
        typed = self._typed(modifications)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            instance = load.instance(process_instance_id)
            instance.set_variables(now, typed, list(deletions or []))
            return [instance]

        self._run(command, key=process_instance_id)

    # -- the machinery shared by the use cases --------------------------------------------------

    def _execute(self, command: _Command) -> None:
        self._run(command.decide, key=command.key, tasks_may_be_available=command.tasks_may_be_available)

    async def _execute_async(self, command: _Command) -> None:
        """Run a command from a coroutine. If nothing need wait (its aggregates are cached and no
        other command here is busy with them), it is decided on the event loop and its commit is
        awaited there, holding no thread; otherwise, and when that first decision is refused or
        was made on cached state that may be stale, it runs as usual in a thread."""
        lock = self._command_lock(command.key)
        if lock.acquire(blocking=False):
            try:
                aggregates = command.decide(self._now(), UnitOfWork(self._event_store, fresh=False, cached_only=True))
            except (NotCached, DomainError, ApplicationError):
                aggregates = None  # a refusal on cached state must be checked on fresh state
            except BaseException:
                lock.release()
                raise
            if aggregates is None:
                lock.release()
            else:
                committed = False
                try:
                    # The stripe goes with the write, and the writer lets it go when the write is
                    # over: were this coroutine cancelled meanwhile, a later command on the same
                    # task must still not be written beside it by another writer.
                    [committed] = await self._committer.commit_async([aggregates], when_written=lock.release)
                except asyncio.CancelledError:
                    # The write goes on without its caller and may well commit: parked polls
                    # are told all the same (one that finds nothing new has only looked).
                    committed = True
                    raise
                finally:
                    if committed and command.tasks_may_be_available:
                        self._availability.notify()
                if committed:
                    return
        await self._run_sync(
            functools.partial(
                self._run, command.decide, key=command.key, tasks_may_be_available=command.tasks_may_be_available,
                fresh=True,
            )
        )

    def _run(
        self,
        command: Command,
        *,
        key: str | None = None,
        tasks_may_be_available: bool = False,
        fresh: bool = False,
    ) -> Sequence[Aggregate]:
        """Decide and commit; decide again on fresh state when a concurrent writer got there first."""
        for attempt in range(MAX_SAVE_ATTEMPTS):
            lock = self._command_lock(key) if key is not None else None
            if lock is not None:
                lock.acquire()
            try:
                load = UnitOfWork(self._event_store, fresh=fresh)
                try:
                    aggregates = command(self._now(), load)
                except (DomainError, ApplicationError) as error:
                    if load.used_cache:
                        fresh = True  # the refusal may rest on stale state: decide again on fresh
                        continue
                    raise error if isinstance(error, ApplicationError) else from_domain_error(error) from None
                [committed] = self._committer.commit([aggregates])
            finally:
                if lock is not None:
                    lock.release()
            if committed:
                if tasks_may_be_available:
                    self._availability.notify()
                return aggregates
            fresh = True
            # Jittered backoff, so writers in different processes stop colliding in lockstep.
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise ConcurrentModification(
            "ENGINE-03005 The command kept conflicting with concurrent modifications of the same "
            "entities and was not applied."
        )

    def _command_lock(self, key: str) -> threading.Lock:
        return self._command_locks[hash(key) % COMMAND_LOCK_STRIPES]

    def _now(self) -> datetime:
        return to_millisecond(self._clock())

    @staticmethod
    def _set_instance_variables(
        load: UnitOfWork, task: ExternalTask, variables: dict[str, dict[str, Any]], now: datetime
    ) -> list[Aggregate]:
        if not variables:
            return []
        instance = load.instance(task.process_instance_id)
        instance.set_variables(now, variables)
        return [instance]

    @staticmethod
    def _typed(variables: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
        """Typed, validated variables as stored in events; transient ones are not kept."""
        try:
            return {
                name: value.to_dict()
                for name, value in typed_variables(variables).items()
                if value.value_info.get("transient") is not True
            }
        except InvalidVariableValue as error:
            raise BadRequest(error.message, error.camunda_type) from None

    @staticmethod
    def _check(check: Callable[..., None], *args: Any) -> None:
        try:
            check(*args)
        except DomainError as error:
            raise from_domain_error(error) from None
