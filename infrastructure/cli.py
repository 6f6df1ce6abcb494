"""The ``extask`` command line."""

from __future__ import annotations

import os

import click
import uvicorn

from application.long_polling import DEFAULT_MAX_PARKED_POLLS
from infrastructure import settings
from infrastructure.persistence.database import settings_from_url


@click.group()
def main() -> None:
    """extask: an event-sourced external-task engine with Camunda 7's external-task REST API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--database-url",
    envvar=settings.DATABASE_URL_VARIABLE,
    default=settings.database_url,
    show_default="sqlite:///extask.db",
    help=f"sqlite:///path or postgresql://user@host:port/db (also ${settings.DATABASE_URL_VARIABLE}).",
)
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
def serve(host: str, port: int, database_url: str, workers: int, max_parked_polls: int) -> None:
    """Serve the REST API at http://HOST:PORT/engine-rest."""
    try:
        database = settings_from_url(database_url)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--database-url") from None
    if workers > 1 and database.dialect != "postgres":
        raise click.BadParameter("several server processes need PostgreSQL", param_hint="--workers")
    # Server processes read their settings from the environment (uvicorn starts them fresh).
    os.environ[settings.DATABASE_URL_VARIABLE] = database_url
    os.environ[settings.MAX_PARKED_POLLS_VARIABLE] = str(max_parked_polls)
    click.echo(f"extask serving http://{host}:{port}/engine-rest on {database.dialect}", err=True)
    uvicorn.run(
        "infrastructure.asgi:application",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
