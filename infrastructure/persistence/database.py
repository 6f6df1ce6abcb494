"""One database URL in, the event-sourcing library's settings out: the only place that translates it.

``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` is the embedded default;
``postgresql://user[:password]@host[:port]/dbname[?schema=name]`` is for production.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///extask.db"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    dialect: str  # "sqlite" or "postgres"
    schema: str | None
    library_env: dict[str, str]
    admin_url: str = ""  # PostgreSQL: the database without extask's own query parameters


def settings_from_url(url: str) -> DatabaseSettings:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///x.db -> "x.db" (relative); sqlite:////tmp/x.db -> "/tmp/x.db"
        path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"A SQLite URL needs a file path, as in {DEFAULT_DATABASE_URL}: {url!r}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return DatabaseSettings(
            url=url,
            dialect="sqlite",
            schema=None,
            library_env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30",
                "CREATE_TABLE": "n",  # schema.create_tables does it
                "APPLICATION_RECORDER_TOPIC": "extask.infrastructure.persistence.recorders:SQLiteExternalTaskRecorder",
                "TRACKING_RECORDER_TOPIC": "extask.infrastructure.persistence.recorders:SQLiteHistoryRecorder",
            },
        )
    if parts.scheme in ("postgresql", "postgres"):
        schema = parse_qs(parts.query).get("schema", ["public"])[0]
        return DatabaseSettings(
            url=url,
            dialect="postgres",
            schema=schema,
            admin_url=parts._replace(query="").geturl(),
            library_env={
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
                "POSTGRES_HOST": parts.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                "POSTGRES_SCHEMA": schema,
                "POSTGRES_POOL_SIZE": "4",
                "POSTGRES_MAX_OVERFLOW": "16",
                "POSTGRES_LOCK_TIMEOUT": "30",
                "POSTGRES_CONNECT_TIMEOUT": "5",
                "CREATE_TABLE": "n",  # schema.create_tables does it, under a lock
                "APPLICATION_RECORDER_TOPIC": "extask.infrastructure.persistence.recorders:PostgresExternalTaskRecorder",
                "TRACKING_RECORDER_TOPIC": "extask.infrastructure.persistence.recorders:PostgresHistoryRecorder",
            },
        )
    raise ValueError(f"Unsupported database URL {url!r}: use sqlite:///path or postgresql://...")
