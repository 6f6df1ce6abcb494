"""The commands workers send: fetch and lock, lock, extend or give up a lock, complete, report a failure or a BPMN error.

A fetch claims its candidates on their command-lock stripes without waiting, skipping the tasks
another command here is busy with, and commits each claimed task as a group of its own. The
commands a server answers all the time also come as coroutines (``complete_async`` ...).

A fetch never leaves tasks locked that it did not hand out: when its answer cannot be built after
its locks were committed, it gives them back (``Unlocked``, through the usual commit) before the
error reaches its caller; a single task whose answer cannot be built, or written by the REST
layer, is not handed out either, but failed with no retries left, so that an incident says why
(``handle_undeliverable``) while the other tasks go out. Either way only tasks still under the
lock the fetch took are touched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from extask.application.arguments import check, stored_variables
from extask.application.command_bus import Command, CommandBus, ReadyCommand
from extask.application.dto import ExternalTaskDTO, FetchAndLockRequest, FetchTopic, LockedExternalTaskDTO
from extask.application.errors import BadRequest, from_domain_error
from extask.application.limits import Limits, check_count
from extask.application.query_checks import check_like_pattern
from extask.application.ports import RuntimeReadModel
from extask.application.queries import SORT_ORDERS
from extask.application.unit_of_work import UnitOfWork
from extask.domain.errors import DomainError, ensure_not_null, ensure_positive, java_text
from extask.domain.external_task import ExternalTask
from extask.domain.variables import TypedValue

MAX_FETCH_ROUNDS = 5
# What building a task's answer raises when its stored data is unfit; anything else (memory, a
# bug) fails the fetch, whose locks are then given back.
UNREADABLE = (ValueError, TypeError, KeyError, RecursionError, UnicodeError)
# The error message (and incident message) of a task whose answer could not be built or written.
UNDELIVERABLE = "could not be delivered: {}"

logger = logging.getLogger(__name__)


@dataclass
class _Claim:
    """The tasks one fetch has locked in memory, and the command-lock stripes it holds for them."""

    tasks: list[ExternalTask] = field(default_factory=list)
    locks: set[threading.Lock] = field(default_factory=set)


@dataclass(frozen=True)
class _TakenLock:
    """A lock one fetch took: the task is still under it while its worker and expiry are unchanged
    (no completion, failure, extension, unlock or later fetch came in between)."""

    task_id: str
    worker_id: str
    lock_expiration_time: datetime

    @classmethod
    def of(cls, locked: LockedExternalTaskDTO) -> _TakenLock:
        task = locked.task
        return cls(task.id, task.worker_id, task.lock_expiration_time)  # type: ignore[arg-type]

    @classmethod
    def of_task(cls, task: ExternalTask) -> _TakenLock:
        return cls(str(task.id), task.worker_id, task.lock_expiration_time)  # type: ignore[arg-type]

    def holds(self, task: ExternalTask) -> bool:
        return (
            task.end_state is None
            and task.worker_id == self.worker_id
            and task.lock_expiration_time == self.lock_expiration_time
        )


class WorkerUseCases(CommandBus):
    _runtime: RuntimeReadModel
    limits: Limits

    def fetch_and_lock(self, request: FetchAndLockRequest) -> list[LockedExternalTaskDTO]:
        """Lock up to ``max_tasks`` fetchable tasks of the requested topics for one worker.

        A task taken by a competing worker between selection and save is skipped, as in Camunda:
        the result may hold fewer than ``max_tasks`` tasks, but never an error. Should the answer
        fail after some locks were committed, those are given back before the error is raised.
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
            return self._locked_dtos(locked, topics)
        except BaseException as error:
            self._give_back_quietly([_TakenLock.of_task(task) for task in locked])
            if isinstance(error, DomainError):
                raise from_domain_error(error) from None
            raise

    def _validated_fetch_request(self, request: FetchAndLockRequest) -> FetchAndLockRequest:
        check(ensure_not_null, "workerId", request.worker_id)
        if request.max_tasks is None or request.max_tasks < 0:
            raise BadRequest("maxResults is not greater than or equal to 0", "ProcessEngineException")
        check_count(request.max_tasks, self.limits.max_tasks_per_fetch, "maxTasks", "max_tasks_per_fetch")
        check_count(len(request.topics), self.limits.topics_per_fetch, "Topics in one fetch", "topics_per_fetch")
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
            check(ensure_not_null, "topicName", topic.topic_name)
            check(ensure_positive, "lockTime", topic.lock_duration or 0)
            self._check_topic_size(topic)
            topics[topic.topic_name] = topic  # the same topic twice: the last one counts
        return FetchAndLockRequest(
            worker_id=request.worker_id,
            max_tasks=request.max_tasks,
            topics=list(topics.values()),
            use_priority=request.use_priority,
            sorting=list(request.sorting),
        )

    def _check_topic_size(self, topic: FetchTopic) -> None:
        """A topic's lists and process-variable conditions each end up in the fetch's query."""
        for what, values in (
            ("processDefinitionIdIn", topic.process_definition_id_in),
            ("processDefinitionKeyIn", topic.process_definition_key_in),
            ("tenantIdIn", topic.tenant_id_in),
            ("variables", topic.variables),
        ):
            check_count(len(values or ()), self.limits.values_per_list, f"Values of {what}", "values_per_list")
        check_count(
            len(topic.process_variables or ()), self.limits.conditions_per_query,
            "Conditions in processVariables", "conditions_per_query",
        )
        if topic.process_definition_version_tag is not None:  # matched as a LIKE pattern
            check_like_pattern(topic.process_definition_version_tag, "processDefinitionVersionTag", self.limits)

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
            try:
                result.append(self._locked_dto(task, topics[task.topic_name], process_variables))
            except UNREADABLE as error:  # this task's stored data: the others still go out
                self._fail_undeliverable(_TakenLock.of_task(task), error)
        return result

    @staticmethod
    def _locked_dto(
        task: ExternalTask, topic: FetchTopic, process_variables: Mapping[str, Mapping[str, TypedValue]]
    ) -> LockedExternalTaskDTO:
        visible: dict[str, TypedValue] = {}
        if not topic.local_variables:
            visible.update(process_variables.get(task.process_instance_id, {}))
        visible.update({name: TypedValue.from_dict(value) for name, value in task.local_variables.items()})
        if topic.variables is not None:
            visible = {name: visible[name] for name in topic.variables if name in visible}
        return LockedExternalTaskDTO(
            task=ExternalTaskDTO.from_task(task),
            error_details=task.error_details,
            variables=visible,
            extension_properties=dict(task.extension_properties) if topic.include_extension_properties else {},
        )

    # -- what a fetch took but did not hand out ---------------------------------------------------

    def give_back(self, tasks: Sequence[LockedExternalTaskDTO]) -> None:
        """Unlock tasks a fetch locked that never reached its worker (the client went away, say):
        each that is still under that lock, so that others may fetch it at once."""
        self._give_back([_TakenLock.of(locked) for locked in tasks])

    def handle_undeliverable(self, locked: LockedExternalTaskDTO, problem: str) -> None:
        """A fetched task whose answer cannot be written: it is not handed out, but failed by its
        fetch's worker with no retries left, so that an incident tells an operator ``problem``
        rather than the task blocking its topic (fetched, failing, expiring, fetched again)."""
        self._execute(self._undeliverable(_TakenLock.of(locked), problem))

    async def handle_undeliverable_async(self, locked: LockedExternalTaskDTO, problem: str) -> None:
        """``handle_undeliverable`` for a coroutine (see ``_execute_async``)."""
        await self._execute_async(self._undeliverable(_TakenLock.of(locked), problem))

    def _undeliverable(self, taken: _TakenLock, problem: str) -> ReadyCommand:
        message = UNDELIVERABLE.format(problem)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(taken.task_id)
            if not taken.holds(task):
                return []  # no longer this fetch's to give up
            task.handle_failure(taken.worker_id, now, error_message=message, error_details=message, retries=0)
            return [task]

        return ReadyCommand(command, key=taken.task_id)

    def _fail_undeliverable(self, taken: _TakenLock, error: Exception) -> None:
        logger.error("External task %s could not be delivered", taken.task_id, exc_info=error)
        try:
            self._execute(self._undeliverable(taken, f"{type(error).__name__}: {error}"))
        except Exception:  # noqa: BLE001 - its lock expires; the next fetch tries again
            logger.exception("External task %s could not be failed as undeliverable", taken.task_id)

    def _give_back_quietly(self, taken: Sequence[_TakenLock]) -> None:
        """``_give_back`` while another error is on its way to the caller: that one is reported."""
        if not taken:
            return
        try:
            self._give_back(taken)
        except Exception:  # noqa: BLE001 - the locks then expire by themselves
            logger.exception("%d locks of a failed fetch could not be given back; they expire", len(taken))

    def _give_back(self, taken: Sequence[_TakenLock]) -> None:
        """Unlock these tasks where still under these locks: in one group commit (each task a group
        of its own); those another command here is busy with, or that lost to another writer, one
        by one on fresh state."""
        held, free = self._hold_free_stripes([lock.task_id for lock in taken])
        unlocked: list[ExternalTask] = []
        try:
            now = self._now()
            loaded = UnitOfWork(self._event_store, fresh=False).find_tasks(free)
            for lock in taken:
                task = loaded.get(lock.task_id)
                if task is not None and lock.holds(task):
                    task.unlock(now)
                    unlocked.append(task)
            accepted = self._committer.commit([[task] for task in unlocked]) if unlocked else []
        finally:
            for stripe in held:
                stripe.release()
            with self._claims_lock:
                self._claims_in_flight -= len(free)
        decided = set(free) - {str(task.id) for task, ok in zip(unlocked, accepted) if not ok}
        for lock in taken:
            if lock.task_id not in decided:
                self._run(self._lock_give_back(lock), key=lock.task_id, fresh=True)
        self._availability.notify()

    @staticmethod
    def _lock_give_back(taken: _TakenLock) -> Command:
        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.find_task(taken.task_id)
            if task is None or not taken.holds(task):
                return []
            task.unlock(now)
            return [task]

        return command

    def lock(self, task_id: str, worker_id: str, lock_duration: int) -> None:
        check(ExternalTask.check_lock_arguments, worker_id, lock_duration)

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

    def _lock_extension(self, task_id: str, worker_id: str, new_duration: int) -> ReadyCommand:
        check(ExternalTask.check_extend_lock_arguments, worker_id, new_duration)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.extend_lock(worker_id, new_duration, now)
            return [task]

        # May move the expiry earlier than a parked poll planned to look again.
        return ReadyCommand(command, key=task_id, tasks_may_be_available=True)

    def unlock(self, task_id: str) -> None:
        check(ensure_not_null, "externalTaskId", task_id)

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
    ) -> ReadyCommand:
        check(ensure_not_null, "workerId", worker_id)
        process_variables = stored_variables(variables, self.limits)
        task_variables = stored_variables(local_variables, self.limits)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.complete(worker_id, now, task_variables, variables=process_variables)
            return [task, *self._set_instance_variables(load, task, process_variables, now)]

        return ReadyCommand(command, key=task_id)

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
    ) -> ReadyCommand:
        check(ExternalTask.check_failure_arguments, worker_id, retries, retry_timeout)
        # Error details are kept with the task as a variable's text is, and bounded alike.
        check_count(len(error_details or ""), self.limits.variable_bytes, "Characters of errorDetails", "variable_bytes")
        process_variables = stored_variables(variables, self.limits)
        task_variables = stored_variables(local_variables, self.limits)

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

        return ReadyCommand(command, key=task_id, tasks_may_be_available=retries > 0)

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
    ) -> ReadyCommand:
        check(ExternalTask.check_bpmn_error_arguments, worker_id, error_code)
        process_variables = stored_variables(variables, self.limits)

        def command(now: datetime, load: UnitOfWork) -> list[Aggregate]:
            task = load.task(task_id)
            task.handle_bpmn_error(
                worker_id, error_code, now, error_message=error_message, variables=process_variables
            )
            return [task, *self._set_instance_variables(load, task, process_variables, now)]

        return ReadyCommand(command, key=task_id)

    @staticmethod
    def _set_instance_variables(
        load: UnitOfWork, task: ExternalTask, variables: dict[str, dict[str, Any]], now: datetime
    ) -> list[Aggregate]:
        if not variables:
            return []
        instance = load.instance(task.process_instance_id)
        instance.set_variables(now, variables)
        return [instance]
