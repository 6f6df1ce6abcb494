"""The history read model's tables: the historic external-task log, incident history, and the
per-task state the projection keeps to fill in log rows (each event carries only what changed).
"""

HISTORY_TABLES = [
    """CREATE TABLE IF NOT EXISTS {hist_ext_task_log} (
        seq BIGINT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        timestamp BIGINT NOT NULL,
        state INTEGER NOT NULL,
        external_task_id TEXT NOT NULL,
        topic_name TEXT NOT NULL,
        worker_id TEXT,
        priority BIGINT NOT NULL,
        retries INTEGER,
        error_message TEXT,
        error_details TEXT,
        activity_id TEXT,
        activity_instance_id TEXT,
        execution_id TEXT,
        process_instance_id TEXT NOT NULL,
        process_definition_id TEXT,
        process_definition_key TEXT,
        tenant_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS {@hist_log_task} ON {hist_ext_task_log} (external_task_id)",
    "CREATE INDEX IF NOT EXISTS {@hist_log_process_instance} ON {hist_ext_task_log} (process_instance_id)",
    """CREATE TABLE IF NOT EXISTS {hist_incident} (
        id TEXT PRIMARY KEY,
        create_time BIGINT NOT NULL,
        end_time BIGINT,
        state TEXT NOT NULL,
        incident_type TEXT NOT NULL,
        incident_message TEXT,
        configuration TEXT NOT NULL,
        history_configuration TEXT,
        process_instance_id TEXT NOT NULL,
        process_definition_id TEXT,
        process_definition_key TEXT,
        execution_id TEXT,
        activity_id TEXT,
        tenant_id TEXT,
        annotation TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS {hist_task_state} (
        id TEXT PRIMARY KEY,
        topic_name TEXT NOT NULL,
        worker_id TEXT,
        priority BIGINT NOT NULL,
        retries INTEGER,
        error_details TEXT,
        activity_id TEXT,
        activity_instance_id TEXT,
        execution_id TEXT,
        process_instance_id TEXT NOT NULL,
        process_definition_id TEXT,
        process_definition_key TEXT,
        tenant_id TEXT,
        last_failure_log_id TEXT,
        incident_id TEXT
    )""",
]

# The columns that identify a row of each table, for comparing a rebuilt model with the live one.
HISTORY_KEYS = {
    "hist_ext_task_log": ("seq",),
    "hist_incident": ("id",),
    "hist_task_state": ("id",),
}

LOG_STATE_CREATED, LOG_STATE_FAILED, LOG_STATE_SUCCESSFUL, LOG_STATE_DELETED = 0, 1, 2, 3
