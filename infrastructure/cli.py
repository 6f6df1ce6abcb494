"""The ``extask`` command line."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click
import uvicorn

from extask.application.errors import NotFound
from extask.application.long_polling import DEFAULT_MAX_PARKED_POLLS
from extask.infrastructure import settings
from extask.infrastructure.bootstrap import Engine, build_engine
from extask.infrastructure.persistence.database import settings_from_url
from extask.infrastructure.persistence.replay import ReplayInProgress
from extask.infrastructure.rest.audit_schemas import TaskEvent


database_url_option = click.option(
    "--database-url",
    envvar=settings.DATABASE_URL_VARIABLE,
    default=settings.database_url,
    show_default="sqlite:///extask.db",
    help=f"sqlite:///path or postgresql://user@host:port/db (also ${settings.DATABASE_URL_VARIABLE}).",
)


@click.group()
def main() -> None:
    """extask: an event-sourced external-task engine with Camunda 7's external-task REST API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@database_url_option
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Server processes (PostgreSQL only).")
@click.option(
    "--max-parked-polls",
    envvar=settings.MAX_PARKED_POLLS_VARIABLE,
    default=DEFAULT_MAX_PARKED_POLLS,
    show_default=True,
    type=click.IntRange(min=0),
    help="Long polls (fetchAndLock with asyncResponseTimeout) each server process holds at a time; "
    f"more are refused with 500 (also ${settings.MAX_PARKED_POLLS_VARIABLE}).",
)
@click.option(
    "--max-parked-polls-per-client",
    envvar=settings.MAX_PARKED_POLLS_PER_CLIENT_VARIABLE,
    default=None,
    type=click.IntRange(min=1),
    help="Of those, how many one client (network address) may hold; more of its polls are refused "
    f"with 500. Default: a quarter of --max-parked-polls (also ${settings.MAX_PARKED_POLLS_PER_CLIENT_VARIABLE}).",
)
@click.option(
    "--limit", "limits", multiple=True, metavar="NAME=VALUE",
    help="Set one of the limits, as in --limit max_tasks_per_fetch=20000 (repeatable; also "
    f"${settings.LIMIT_VARIABLE_PREFIX}<NAME>). The limits and their defaults: docs/limits.md.",
)
@click.option(
    "--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
    help="A name clients reach the server by, beyond localhost, --host and any IP address "
    f"(repeatable, * for any; also ${settings.ALLOWED_HOSTS_VARIABLE}, comma-separated). "
    "Requests with another Host header are refused.",
)
@click.option(
    "--allowed-origin", "allowed_origins", multiple=True, metavar="ORIGIN",
    help="A web origin (https://ops.example.com) whose pages may send state-changing requests "
    f"(repeatable; also ${settings.ALLOWED_ORIGINS_VARIABLE}). Others are refused with 403.",
)
def serve(
    host: str, port: int, database_url: str, workers: int, max_parked_polls: int,
    max_parked_polls_per_client: int | None, limits: tuple[str, ...], allowed_hosts: tuple[str, ...], allowed_origins: tuple[str, ...],
) -> None:
    """Serve the REST API at http://HOST:PORT/engine-rest."""
    try:
        database = settings_from_url(database_url)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--database-url") from None
    overrides = dict(_setting(text, "--limit") for text in limits)
    try:
        settings.check_limits(overrides)
        for name, value in overrides.items():
            os.environ[settings.limit_variable(name)] = value
        http_limits = settings.http_limits()
        settings.limits()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--limit") from None
    _extend_listed(settings.ALLOWED_HOSTS_VARIABLE, [*_bound_name(host), *allowed_hosts])
    _extend_listed(settings.ALLOWED_ORIGINS_VARIABLE, list(allowed_origins))
    if workers > 1 and database.dialect != "postgres":
        raise click.BadParameter("several server processes need PostgreSQL", param_hint="--workers")
    # Server processes read their settings from the environment (uvicorn starts them fresh).
    os.environ[settings.DATABASE_URL_VARIABLE] = database_url
    os.environ[settings.MAX_PARKED_POLLS_VARIABLE] = str(max_parked_polls)
    if max_parked_polls_per_client is not None:
        os.environ[settings.MAX_PARKED_POLLS_PER_CLIENT_VARIABLE] = str(max_parked_polls_per_client)
    click.echo(f"extask serving http://{host}:{port}/engine-rest on {database.dialect}", err=True)
    uvicorn.run(
        "extask.infrastructure.asgi:application",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        http="extask.infrastructure.rest.server_protocol:GuardedHttpProtocol",
        limit_concurrency=http_limits.connections,
    )


def _bound_name(host: str) -> list[str]:
    """The address the server listens on, when it names one (not every interface)."""
    return [] if host in ("0.0.0.0", "::", "") else [host]


def _extend_listed(variable: str, given: list[str]) -> None:
    """Add to a comma-separated list setting in the environment, where the server processes read it."""
    items = [item for item in (os.environ.get(variable) or "").split(",") if item.strip()]
    if given:
        os.environ[variable] = ",".join(dict.fromkeys([*items, *given]))


def _setting(text: str, option: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip() or not value.strip():
        raise click.BadParameter(f"expected NAME=VALUE, not {text!r}", param_hint=option)
    return name.strip(), value.strip()


@main.command()
@click.argument("task_id")
@database_url_option
@click.option(
    "--json", "as_json", is_flag=True,
    help="One JSON object per event, as GET /engine-rest/history/external-task/{id}/events answers.",
)
def history(task_id: str, database_url: str, as_json: bool) -> None:
    """Print the timeline of external task TASK_ID from the event store, one line per event.

    Each line shows the event's time, its version (#n), its type, then the worker, retries, lock
    expiration, error message and the event's other fields (empty ones left out, long ones cut).
    Ended tasks (completed, BPMN error, deleted) have their timelines too.
    """
    engine = _open_existing(database_url)
    try:
        events = engine.audit.task_events(task_id)
    except NotFound as error:
        raise click.ClickException(error.message) from None
    finally:
        engine.close()
    for event in events:
        wire = TaskEvent.from_dto(event).to_wire()
        click.echo(json.dumps(wire, ensure_ascii=False) if as_json else _timeline_line(wire))


# The fields an operator looks for first, in this order; the others follow in the event's order.
_LEADING_FIELDS = ("workerId", "retries", "lockExpirationTime", "errorMessage")
_LONGEST_EVENT_TYPE = len("IncidentAnnotated")
_MAX_VALUE_LENGTH = 80
_BARE_TEXT = re.compile(r"[\w.:@/+-]+")


def _timeline_line(event: dict[str, Any]) -> str:
    data = event["data"]
    names = [*(name for name in _LEADING_FIELDS if name in data), *(n for n in data if n not in _LEADING_FIELDS)]
    fields = " ".join(f"{name}={_compact(data[name])}" for name in names if data[name] not in (None, {}, []))
    return f"{event['timestamp']}  #{event['aggregateVersion']:<3} {event['type']:<{_LONGEST_EVENT_TYPE}}  {fields}".rstrip()


def _compact(value: Any) -> str:
    if isinstance(value, dict) and all(isinstance(v, dict) and "value" in v for v in value.values()):
        text = "{" + ", ".join(f"{name}={_compact(v['value'])}" for name, v in value.items()) + "}"
    elif isinstance(value, str) and _BARE_TEXT.fullmatch(value):
        text = value
    else:  # quoted, so spaces and line breaks cannot break the line apart
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _MAX_VALUE_LENGTH else text[: _MAX_VALUE_LENGTH - 1] + "…"


def _open_existing(database_url: str) -> Engine:
    """The engine on an existing database: an inspecting command never creates an empty one."""
    try:
        database = settings_from_url(database_url)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--database-url") from None
    if database.dialect == "sqlite" and not Path(database.library_env["SQLITE_DBNAME"]).is_file():
        raise click.ClickException(f"No SQLite database at {database.library_env['SQLITE_DBNAME']}")
    return build_engine(database_url)


@main.command()
@database_url_option
@click.option(
    "--verify", is_flag=True,
    help="Rebuild in memory and compare with the live read models row by row instead; changes nothing, "
    "exits with status 1 if they differ.",
)
@click.option(
    "--processes", type=click.IntRange(min=1), default=None,
    help="Processes that fold the events (PostgreSQL). Default: one per core, up to 4, for a store of "
    "50,000 events or more; fewer leave cores to a server on the same machine.",
)
def replay(database_url: str, verify: bool, processes: int | None) -> None:
    """Rebuild every read model from the first event.

    The runtime tasks, process variables, open incidents, historic external-task log and incident
    history are rebuilt into fresh tables, then swapped in while writers wait for a moment. Safe
    while servers are running: no committed event is lost or applied twice.
    """
    engine = _open_existing(database_url)
    try:
        total = engine.event_store.recorder.max_notification_id() or 0
        with click.progressbar(length=total, label="Verifying" if verify else "Replaying", file=click.get_text_stream("stderr")) as bar:
            result = engine.replay.verify(bar.update) if verify else engine.replay.rebuild(bar.update, processes=processes)
    except ReplayInProgress as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.close()
    rate = result.events / result.seconds if result.seconds else 0.0
    rows = ", ".join(f"{table} {count}" for table, count in result.rows.items())
    if not verify:
        click.echo(
            f"Replayed {result.events} events in {result.seconds:.1f} s ({rate:,.0f} events/s, "
            f"{result.processes} {'process' if result.processes == 1 else 'processes'}); "
            f"the read models now stand at event {result.position}. Rows: {rows}."
        )
        return
    click.echo(
        f"Verified {result.events} events in {result.seconds:.1f} s ({rate:,.0f} events/s): runtime model at "
        f"event {result.runtime_position}, history at event {result.history_position}. Rows compared: {rows}."
    )
    for difference in result.differences:
        click.echo(str(difference))
    if result.differences:
        click.echo(f"{len(result.differences)} differences.", err=True)
        raise SystemExit(1)
    click.echo("No differences.")


if __name__ == "__main__":
    main()
