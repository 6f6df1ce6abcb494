"""The runtime read model's tables: what fetch-and-lock and the runtime queries select from.

Times are epoch milliseconds; variable values and value infos are JSON text.
"""

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
    "CREATE INDEX IF NOT EXISTS ext_task_topic_lock ON {ext_task} (topic_name, lock_expiration_time)",
    "CREATE INDEX IF NOT EXISTS ext_task_process_instance ON {ext_task} (process_instance_id)",
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
        tenant_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS incident_configuration ON {incident} (configuration)",
]
