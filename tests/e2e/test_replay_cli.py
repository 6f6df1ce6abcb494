"""``extask replay`` against the database of a running server: a rebuild while workers complete
tasks over HTTP loses and repeats nothing, ``--verify`` finds a tampered read model, and a rebuild
repairs it."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from extask.infrastructure.persistence.database import settings_from_url
from extask.infrastructure.persistence.sql import Dialect
from tests.e2e.conftest import Names, RunningServer, run_extask

WORKERS = 3


def execute_sql(database_url: str, statement: str) -> None:
    """Change the server's read model behind its back, as a faulty migration or a person might."""
    settings = settings_from_url(database_url)
    sql = Dialect(settings.dialect, settings.schema).sql(statement)
    if settings.dialect == "postgres":
        with psycopg.connect(settings.admin_url, autocommit=True) as connection:
            connection.execute(sql)
    else:
        with sqlite3.connect(settings.library_env["SQLITE_DBNAME"]) as connection:
            connection.execute(sql)


def work_off(server: RunningServer, topic: str, worker: str, replay_over: threading.Event) -> int:
    """Fetch and complete tasks of ``topic`` until the replay is over and none is left; answers how
    many it completed."""
    completed = 0
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        while True:
            over = replay_over.is_set()  # read before fetching: a last empty fetch after it is final
            response = http.post("/external-task/fetchAndLock", json={
                "workerId": worker, "maxTasks": 5, "topics": [{"topicName": topic, "lockDuration": 60_000}],
            })
            assert response.status_code == 200, response.text
            if not response.json() and over:
                return completed
            for task in response.json():
                answer = http.post(f"/external-task/{task['id']}/complete", json={"workerId": worker})
                assert answer.status_code == 204, answer.text
                completed += 1


def test_a_replay_while_tasks_are_created_and_completed_loses_and_repeats_nothing(server: RunningServer, names: Names):
    """Tasks are created and completed over HTTP for the whole time ``extask replay`` runs."""
    topic = names.topic()
    replay_over = threading.Event()
    with ThreadPoolExecutor(max_workers=WORKERS + 1) as pool:
        workers = [pool.submit(work_off, server, topic, names.worker(f"w{i}"), replay_over) for i in range(WORKERS)]
        replay = pool.submit(run_extask, "replay", "--database-url", server.database_url)
        created = 0
        while not replay.done():
            server.create_task(topic, names.process_instance(f"pi{created % 7}"))
            created += 1
        replay_over.set()
        completed = sum(worker.result() for worker in workers)

    assert replay.result().returncode == 0, replay.result().stderr
    assert "the read models now stand at event" in replay.result().stdout
    assert created > 0 and completed == created
    successes = server.http.get("/history/external-task-log/count", params={"topicName": topic, "successLog": "true"})
    assert successes.json() == {"count": created}
    creations = server.http.get("/history/external-task-log/count", params={"topicName": topic, "creationLog": "true"})
    assert creations.json() == {"count": created}
    verify = run_extask("replay", "--verify", "--database-url", server.database_url)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.rstrip().endswith("No differences.")


def test_verify_reports_a_tampered_read_model_and_a_replay_repairs_it(server: RunningServer, names: Names):
    task = server.create_task(names.topic(), names.process_instance(), priority=3)
    execute_sql(server.database_url, f"UPDATE {{ext_task}} SET priority = 1000 WHERE id = '{task['id']}'")
    assert server.http.get(f"/external-task/{task['id']}").json()["priority"] == 1000

    verify = run_extask("replay", "--verify", "--database-url", server.database_url)

    assert verify.returncode == 1
    assert f"ext_task id={task['id']}: priority: live 1000, rebuilt 3" in verify.stdout
    assert "1 differences." in verify.stderr

    repair = run_extask("replay", "--database-url", server.database_url)

    assert repair.returncode == 0, repair.stderr
    assert server.http.get(f"/external-task/{task['id']}").json()["priority"] == 3
    assert run_extask("replay", "--verify", "--database-url", server.database_url).returncode == 0


def test_replay_refuses_a_database_that_does_not_exist(tmp_path):
    run = run_extask("replay", "--database-url", f"sqlite:///{tmp_path / 'missing.db'}")

    assert run.returncode == 1
    assert "No SQLite database at" in run.stderr
    assert not (tmp_path / "missing.db").exists()
