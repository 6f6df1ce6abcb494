#!/usr/bin/env bash
# The README's curl walk-through, runnable: create a task, fetch and lock it, fail it until an
# incident appears, set retries to resolve it, complete it, and read its history.
# Usage: scripts/curl_walkthrough.sh [BASE_URL]   (default http://127.0.0.1:8080/engine-rest)
set -euo pipefail
BASE=${1:-http://127.0.0.1:8080/engine-rest}
json() { curl -sS -H 'Content-Type: application/json' "$@"; echo; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
step() { printf '\n# %s\n' "$*"; }

step "1. Create a task on topic 'invoice' (its process instance pi-1 starts with it)"
TASK=$(json -X POST "$BASE/external-task/create" -d '{"topicName": "invoice", "processInstanceId": "pi-1",
  "businessKey": "order-17", "priority": 5,
  "variables": {"amount": {"value": 12.5, "type": "Double"}}}')
echo "$TASK"
ID=$(echo "$TASK" | field '["id"]')

step "2. A worker fetches and locks it for 60 s"
json -X POST "$BASE/external-task/fetchAndLock" -d '{"workerId": "billing-1", "maxTasks": 10,
  "topics": [{"topicName": "invoice", "lockDuration": 60000}]}'

step "3. The worker reports a failure with no retries left: an incident appears"
json -X POST "$BASE/external-task/$ID/failure" -w '%{http_code}' -d '{"workerId": "billing-1",
  "errorMessage": "payment gateway down", "errorDetails": "Traceback ...", "retries": 0, "retryTimeout": 0}'
json "$BASE/incident?incidentType=failedExternalTask&configuration=$ID"

step "4. An operator sets retries: the incident is resolved"
json -X PUT "$BASE/external-task/$ID/retries" -w '%{http_code}' -d '{"retries": 2}'
json "$BASE/incident?configuration=$ID"

step "5. The worker fetches it again and completes it with a variable"
json -X POST "$BASE/external-task/fetchAndLock" -d '{"workerId": "billing-1", "maxTasks": 1,
  "topics": [{"topicName": "invoice", "lockDuration": 60000, "variables": ["amount"]}]}'
json -X POST "$BASE/external-task/$ID/complete" -w '%{http_code}' -d '{"workerId": "billing-1",
  "variables": {"invoiceNumber": {"value": "INV-1", "type": "String"}}}'
json "$BASE/process-instance/pi-1/variables"

step "6. The history: created, failed, successful"
json "$BASE/history/external-task-log?externalTaskId=$ID&sortBy=timestamp&sortOrder=asc"
