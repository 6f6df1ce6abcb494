"""End-to-end fixtures: a real ``extask serve`` process on a free port, per backend.

``server`` is module-scoped and parametrised over SQLite (a file in a temporary directory) and
PostgreSQL (a fresh schema of its own, dropped afterwards), so each test module starts one server
per backend. Tests sharing a server stay independent by using their own topics and process
instance ids (see the ``names`` fixture). A module that needs a server started with options of
its own (small limits, say) builds its fixture on ``serving``, parametrised by ``BACKENDS``.

The server runs as ``python -c "from extask.infrastructure.cli import main; main()" serve ...`` with the
interpreter running the tests: that is the same function the ``extask`` console script calls, from
the installed project (``pip install -e '.[test]'``), with nothing of the checkout on its path.
Readiness is ``GET /engine-rest/version`` answering 200, polled with a short timeout per attempt
under an overall deadline; if the process dies or never answers, the test fails with its stderr.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import postgres_url

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
READY_DEADLINE_SECONDS = 20.0
READY_ATTEMPT_TIMEOUT_SECONDS = 0.5
READY_POLL_INTERVAL_SECONDS = 0.05
STOP_TIMEOUT_SECONDS = 10.0
CLI_TIMEOUT_SECONDS = 60
START_ATTEMPTS = 3  # a free port can be taken by someone else between choosing and binding it


@dataclass
class RunningServer:
    """A started ``extask serve`` process and an HTTP client for its REST API."""

    url: str  # http://127.0.0.1:PORT
    base_url: str  # http://127.0.0.1:PORT/engine-rest
    database_url: str
    process: subprocess.Popen
    stderr_path: Path
    http: httpx.Client = field(repr=False)

    def stderr(self) -> str:
        return _read_text(self.stderr_path)

    def create_task(
        self,
        topic_name: str,
        process_instance_id: str | None = None,
        variables: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict:
        """Create one task through extask's own ``POST /external-task/create``; returns it."""
        body: dict[str, Any] = {"topicName": topic_name, **fields}
        if process_instance_id is not None:
            body["processInstanceId"] = process_instance_id
        if variables is not None:
            body["variables"] = variables
        response = self.http.post("/external-task/create", json=body)
        assert response.status_code in (200, 201), (response.status_code, response.text)
        created = response.json()
        if isinstance(created, list):  # tolerate an endpoint that answers with the list it created
            assert len(created) == 1, created
            created = created[0]
        assert created["topicName"] == topic_name, created
        return created


@dataclass
class Names:
    """Unique topic / process-instance / worker names for one test on a shared server."""

    suffix: str

    def topic(self, name: str = "topic") -> str:
        return f"{name}-{self.suffix}"

    def process_instance(self, name: str = "pi") -> str:
        return f"{name}-{self.suffix}"

    def worker(self, name: str = "worker") -> str:
        return f"{name}-{self.suffix}"


@pytest.fixture
def names() -> Names:
    return Names(uuid.uuid4().hex[:12])


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_command(port: int, database_url: str, *options: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from extask.infrastructure.cli import main; main()",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--database-url",
        database_url,
        *options,
    ]


def _server_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("EXTASK_DATABASE_URL", None)  # the command line says which database to use
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_extask(*arguments: str, timeout: float = CLI_TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
    """Run an ``extask`` command (``history``, ``replay`` ...) to its end, as an operator would."""
    return subprocess.run(
        [sys.executable, "-c", "from extask.infrastructure.cli import main; main()", *arguments],
        capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, env=_server_environment(), check=False,
    )


def _stop(process: subprocess.Popen) -> None:
    """Terminate the process we started (by its pid) and reap it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


class _PortTaken(Exception):
    pass


def _start_once(
    database_url: str, log_dir: Path, attempt: int, options: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str, Path]:
    port = _free_port()
    url = f"http://{HOST}:{port}"
    stderr_path = log_dir / f"server-{attempt}.stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            server_command(port, database_url, *options),
            cwd=REPO_ROOT,
            env=_server_environment(),
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + READY_DEADLINE_SECONDS
    last_problem = "no answer yet"
    with httpx.Client(timeout=READY_ATTEMPT_TIMEOUT_SECONDS) as probe:
        while True:
            if process.poll() is not None:
                output = _read_text(stderr_path)
                if "address already in use" in output.lower():
                    raise _PortTaken(output)
                pytest.fail(
                    f"extask serve exited with status {process.returncode} before answering.\n"
                    f"command: {server_command(port, database_url, *options)}\noutput:\n{output}"
                )
            try:
                response = probe.get(f"{url}/engine-rest/version")
                if response.status_code == 200:
                    return process, url, stderr_path
                last_problem = f"GET /engine-rest/version answered {response.status_code}: {response.text[:500]}"
            except httpx.TransportError as error:
                last_problem = f"{type(error).__name__}: {error}"
            if time.monotonic() > deadline:
                _stop(process)
                pytest.fail(
                    f"extask serve did not answer GET /engine-rest/version within {READY_DEADLINE_SECONDS} s "
                    f"({last_problem}).\noutput:\n{_read_text(stderr_path)}"
                )
            try:  # doubles as the poll interval and as early death detection
                process.wait(timeout=READY_POLL_INTERVAL_SECONDS)
            except subprocess.TimeoutExpired:
                pass


def start_server(database_url: str, log_dir: Path, *options: str) -> tuple[subprocess.Popen, str, Path]:
    """Start ``extask serve`` (with extra command-line ``options``) and wait until it answers."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return _start_once(database_url, log_dir, attempt, options)
        except _PortTaken as error:
            last_output = str(error)
    pytest.fail(f"could not find a free port in {START_ATTEMPTS} attempts:\n{last_output}")


@pytest.fixture(scope="module")
def postgres_module_schema_url(postgres_available: bool) -> Iterator[str]:
    """Like ``postgres_schema_url`` in tests/conftest.py, but one fresh schema per test module
    (the server outlives single tests)."""
    if not postgres_available:
        pytest.skip("PostgreSQL is not reachable")
    schema = f"e2e_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in postgres_url() else "?"
    yield f"{postgres_url()}{separator}schema={schema}"
    with psycopg.connect(postgres_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# Parameters of a module-scoped fixture serving on each backend (``serving``).
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@contextmanager
def serving(
    request: pytest.FixtureRequest, tmp_path_factory, *options: str, timeout: float = 10.0
) -> Iterator[RunningServer]:
    """A real ``extask serve`` process (with extra command-line ``options``) on the backend of a
    fixture parametrised by ``BACKENDS``: a SQLite file in a temporary directory, or a fresh
    PostgreSQL schema for the module. Its client waits ``timeout`` seconds for an answer."""
    log_dir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    if request.param == "sqlite":
        database_url = f"sqlite:///{log_dir / 'extask.db'}"
    else:
        database_url = request.getfixturevalue("postgres_module_schema_url")
    process, url, stderr_path = start_server(database_url, log_dir, *options)
    base_url = f"{url}/engine-rest"
    http = httpx.Client(base_url=base_url, timeout=timeout)
    try:
        yield RunningServer(
            url=url,
            base_url=base_url,
            database_url=database_url,
            process=process,
            stderr_path=stderr_path,
            http=http,
        )
    finally:
        http.close()
        _stop(process)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory) -> Iterator[RunningServer]:
    """A real ``extask serve`` process for this module, on SQLite or on PostgreSQL."""
    with serving(request, tmp_path_factory) as running:
        yield running


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of the server's output to a failing end-to-end test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when == "call":
        running = getattr(item, "funcargs", {}).get("server")
        if isinstance(running, RunningServer):
            report.sections.append(("extask serve output (tail)", running.stderr()[-5000:] or "(empty)"))
