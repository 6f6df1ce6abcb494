"""The runtime read model's tables: what fetch-and-lock and the runtime queries select from.

Times are epoch milliseconds; variable values and value infos are JSON text.
"""

from collections.abc import Iterable

from extask.infrastructure.persistence.sql import Dialect

RUNTIME_TABLES = [
    """CREATE TABLE IF NOT EXISTS {ext_task} (
        id TEXT PRIMARY KEY,
        topic_name TEXT NOT NULL,
        worker_id TEXT,
        lock_expiration_time BIGINT,
        retries INTEGER,
        suspended BOOLEAN NOT NULL,
        priority BIGINT NOT NULL,
        create_time BIGINT NOT NULL,
        process_instance_id TEXT NOT NULL,
        process_definition_id TEXT,
        process_definition_key TEXT,
        process_definition_version_tag TEXT,
        activity_id TEXT,
        activity_instance_id TEXT,
        execution_id TEXT,
        business_key TEXT,
        tenant_id TEXT,
        error_message TEXT,
        error_details TEXT,
        version INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS {@ext_task_topic_lock} ON {ext_task} (topic_name, lock_expiration_time)",
    # Serves fetch-and-lock: only fetchable-in-principle rows, ordered by when they become free and,
    # among those free equally long (never locked, say), oldest first.
    "CREATE INDEX IF NOT EXISTS {@ext_task_fetchable_v2} ON {ext_task} "
    "(topic_name, (COALESCE(lock_expiration_time, 0)), create_time) "
    "WHERE suspended = FALSE AND (retries IS NULL OR retries > 0)",
    "CREATE INDEX IF NOT EXISTS {@ext_task_process_instance} ON {ext_task} (process_instance_id)",
    """CREATE TABLE IF NOT EXISTS {proc_inst} (
        id TEXT PRIMARY KEY,
        business_key TEXT,
        process_definition_id TEXT,
        process_definition_key TEXT,
        tenant_id TEXT,
        suspended BOOLEAN NOT NULL,
        version INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS {proc_var} (
        process_instance_id TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        value TEXT,
        value_info TEXT NOT NULL,
        -- typed copies of the value for process variable conditions in task queries
        text_value TEXT,
        long_value BIGINT,
        double_value DOUBLE PRECISION,
        PRIMARY KEY (process_instance_id, name)
    )""",
    """CREATE TABLE IF NOT EXISTS {incident} (
        id TEXT PRIMARY KEY,
        incident_timestamp BIGINT NOT NULL,
        incident_type TEXT NOT NULL,
        incident_message TEXT,
        configuration TEXT NOT NULL,
        process_instance_id TEXT NOT NULL,
        process_definition_id TEXT,
        process_definition_key TEXT,
        execution_id TEXT,
        activity_id TEXT,
        tenant_id TEXT,
        annotation TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS {@incident_configuration} ON {incident} (configuration)",
    # A runtime task's local variables, found by its execution id (GET /execution/{id}/localVariables).
    """CREATE TABLE IF NOT EXISTS {task_var} (
        task_id TEXT NOT NULL,
        execution_id TEXT,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        value TEXT,
        value_info TEXT NOT NULL,
        PRIMARY KEY (task_id, name)
    )""",
    "CREATE INDEX IF NOT EXISTS {@task_var_execution} ON {task_var} (execution_id)",
]

# Indexes an earlier version created, dropped at start (after their successors exist) so that
# writes stop paying for them. ext_task_fetchable: ext_task_fetchable_v2 without create_time.
RETIRED_INDEXES = ("ext_task_fetchable",)


def retire_indexes(dialect: Dialect) -> list[str]:
    return [f"DROP INDEX IF EXISTS {dialect.index(name)}" for name in RETIRED_INDEXES]


# Tables whose rows are rewritten or deleted all the time: a task's row lives from its creation to
# its end, process variables are replaced as a whole, a task's history state changes with each
# of its events. PostgreSQL's autovacuum waits by default for a fifth of a table to be dead rows
# before it vacuums, and a tenth changed before it analyses; on these tables that leaves the
# indexes fetch-and-lock walks full of dead entries. (Plans do not wait for the statistics: see
# ``RuntimeReadModel._select`` and the commit function.)
CHURNING_TABLES = ("ext_task", "proc_var", "proc_inst", "task_var", "incident", "hist_task_state")
CHURNING_TABLE_SETTINGS = (
    "autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500, "
    "autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 500"
)


def storage_settings(dialect: Dialect, tables: Iterable[str]) -> list[str]:
    """The storage parameters of those of ``tables`` that churn (PostgreSQL only; SQLite has none)."""
    if dialect.name != "postgres":
        return []
    return [
        f"ALTER TABLE {dialect.table(table)} SET ({CHURNING_TABLE_SETTINGS})" for table in tables if table in CHURNING_TABLES
    ]


# The columns that identify a row of each table, for comparing a rebuilt model with the live one.
RUNTIME_KEYS = {
    "ext_task": ("id",),
    "proc_inst": ("id",),
    "proc_var": ("process_instance_id", "name"),
    "incident": ("id",),
    "task_var": ("task_id", "name"),
}
