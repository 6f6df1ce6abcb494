// Drives the official JavaScript client (camunda-external-task-client-js), unmodified, against a
// running extask server and verifies every effect over plain HTTP.
//
// Run by scripts/js_client_check.sh, which installs the client and starts the server. Environment:
//   EXTASK_BASE_URL  http://127.0.0.1:PORT/engine-rest
//   JS_CLIENT_DIR    the directory the client was installed into (has node_modules/)
//
// Scenarios (each prints PASS or FAIL with the reason; exit status 1 if any fails):
//   complete      typed variables read in the handler, complete with (lower-case typed) variables
//   failure       handleFailure retries 0 -> incident -> PUT retries -> the client gets it again
//   bpmnError     handleBpmnError with variables -> task gone, deletion log, variables on the process
//   extendLock    extendLock moves the lock expiry, then complete
//   unlock        unlock clears the lock, the client fetches the task again, then complete

import path from "node:path";
import { pathToFileURL } from "node:url";
import { randomUUID } from "node:crypto";

const BASE_URL = process.env.EXTASK_BASE_URL;
const CLIENT_DIR = process.env.JS_CLIENT_DIR;
if (!BASE_URL || !CLIENT_DIR) {
  console.error("EXTASK_BASE_URL and JS_CLIENT_DIR must be set (run scripts/js_client_check.sh)");
  process.exit(2);
}

const clientEntry = path.join(CLIENT_DIR, "node_modules", "camunda-external-task-client-js", "index.js");
const { Client, Variables } = await import(pathToFileURL(clientEntry).href);

const SCENARIO_TIMEOUT_MS = 10_000;
const suffix = randomUUID().slice(0, 8);
const workerId = `js-worker-${suffix}`;

// ---------------------------------------------------------------------------------------------
// HTTP helpers (Node's built-in fetch)

async function http(method, urlPath, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${BASE_URL}${urlPath}`, init);
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json, contentType: response.headers.get("content-type") };
}

async function createTask(topicName, processInstanceId, variables) {
  const response = await http("POST", "/external-task/create", { topicName, processInstanceId, variables });
  check([200, 201].includes(response.status), `create task: ${response.status} ${response.text}`);
  return response.json;
}

async function getTask(id) {
  return http("GET", `/external-task/${id}`);
}

async function processVariables(processInstanceId) {
  const response = await http("GET", `/process-instance/${processInstanceId}/variables`);
  check(response.status === 200, `GET variables: ${response.status} ${response.text}`);
  return response.json;
}

async function incidents(taskId) {
  const response = await http("GET", `/incident?incidentType=failedExternalTask&configuration=${taskId}`);
  check(response.status === 200, `GET incidents: ${response.status} ${response.text}`);
  return response.json;
}

async function history(taskId, flag) {
  const response = await http(
    "GET",
    `/history/external-task-log?externalTaskId=${taskId}&${flag}=true&sortBy=timestamp&sortOrder=asc`
  );
  check(response.status === 200, `GET history: ${response.status} ${response.text}`);
  return response.json;
}

// ---------------------------------------------------------------------------------------------
// Assertions and waiting

class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

// JSON with object keys sorted, so that comparisons ignore key order.
function canonical(value) {
  return JSON.stringify(value, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v
  );
}

function checkEqual(actual, expected, what) {
  const a = canonical(actual);
  const e = canonical(expected);
  check(a === e, `${what}: expected ${e}, got ${a}`);
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function withTimeout(promise, what, ms = SCENARIO_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Camunda's date format, milliseconds mandatory: 2025-01-02T03:04:05.678+0000
const CAMUNDA_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$/;

function parseCamundaDate(text, what) {
  check(typeof text === "string" && CAMUNDA_DATE.test(text), `${what} is not a Camunda date: ${text}`);
  return new Date(text.replace(/([+-]\d{2})(\d{2})$/, "$1:$2")).getTime();
}

// ---------------------------------------------------------------------------------------------
// The client under test: default options except a short poll interval (no long polling, as by default)

const clientErrors = [];
const client = new Client({
  baseUrl: BASE_URL,
  workerId,
  interval: 100,
  lockDuration: 20_000,
  maxTasks: 10,
});
for (const event of ["poll:error", "handler:error"]) {
  client.on(event, (error) => clientErrors.push(`${event}: ${error && (error.stack || error)}`));
}

// Subscribe to a fresh topic; `onTask` runs for every delivery (delivery number starting at 1).
// Resolves the scenario's promise with whatever `onTask` returns when it returns `{ done: ... }`.
function subscribeFor(topic, onTask) {
  const finished = deferred();
  let deliveries = 0;
  const subscription = client.subscribe(topic, async ({ task, taskService }) => {
    deliveries += 1;
    try {
      const result = await onTask({ task, taskService, delivery: deliveries });
      if (result && "done" in result) finished.resolve(result.done);
    } catch (error) {
      finished.reject(error);
    }
  });
  return {
    promise: finished.promise,
    stop: () => subscription.unsubscribe(),
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function scenarioComplete() {
  const topic = `js-complete-${suffix}`;
  const pi = `pi-complete-${suffix}`;
  const created = await createTask(topic, pi, {
    note: { value: "rush order", type: "String" },
    count: { value: 7, type: "Integer" },
    big: { value: 2 ** 40, type: "Long" },
    amount: { value: 12.5, type: "Double" },
    approved: { value: true, type: "Boolean" },
    payload: { value: '{"lines":[1,2]}', type: "Json" },
    due: { value: "2025-01-02T03:04:05.678+0000", type: "Date" },
    nothing: { value: null, type: "Null" },
  });

  const run = subscribeFor(topic, async ({ task, taskService }) => {
    check(task.id === created.id, `fetched ${task.id}, expected ${created.id}`);
    check(task.topicName === topic, `topicName ${task.topicName}`);
    check(task.workerId === workerId, `workerId ${task.workerId}`);
    parseCamundaDate(task.lockExpirationTime, "lockExpirationTime");
    const seen = task.variables.getAll();
    checkEqual(
      Object.fromEntries(Object.entries(task.variables.getAllTyped()).map(([k, v]) => [k, v.type])),
      {
        note: "string", count: "integer", big: "long", amount: "double", approved: "boolean",
        payload: "json", due: "date", nothing: "null",
      },
      "typed variables as the client reads them"
    );
    checkEqual(seen.payload, { lines: [1, 2] }, "Json variable parsed by the client");
    check(seen.due instanceof Date && seen.due.toISOString() === "2025-01-02T03:04:05.678Z", `Date variable ${seen.due}`);
    checkEqual([seen.note, seen.count, seen.big, seen.amount, seen.approved, seen.nothing],
      ["rush order", 7, 2 ** 40, 12.5, true, null], "plain variable values");

    const variables = new Variables()
      .set("status", "paid")
      .set("total", 3)
      .set("bigTotal", 2 ** 40)
      .set("ratio", 0.25)
      .set("checked", true)
      .set("lines", { lines: [1, 2], ok: true })
      .set("paidOn", new Date("2025-03-04T05:06:07.089Z"))
      .set("cleared", null)
      .setTyped("explicit", { type: "String", value: "typed", valueInfo: {} });
    const localVariables = new Variables().set("scratch", "local only");
    await taskService.complete(task, variables, localVariables);
    return { done: task };
  });
  try {
    await withTimeout(run.promise, "the handler to complete the task");
  } finally {
    run.stop();
  }

  const gone = await getTask(created.id);
  check(gone.status === 404, `task after complete: ${gone.status} ${gone.text}`);
  const vars = await processVariables(pi);
  checkEqual(
    Object.fromEntries(["status", "total", "bigTotal", "ratio", "checked", "lines", "paidOn", "cleared", "explicit"]
      .map((name) => [name, vars[name] && vars[name].type])),
    {
      status: "String", total: "Integer", bigTotal: "Long", ratio: "Double", checked: "Boolean",
      lines: "Json", paidOn: "Date", cleared: "Null", explicit: "String",
    },
    "process variable types (the client sent them lower-case)"
  );
  checkEqual(
    [vars.status.value, vars.total.value, vars.bigTotal.value, vars.ratio.value, vars.checked.value,
      vars.cleared.value, vars.explicit.value],
    ["paid", 3, 2 ** 40, 0.25, true, null, "typed"],
    "process variable values"
  );
  checkEqual(JSON.parse(vars.lines.value), { lines: [1, 2], ok: true }, "Json process variable");
  check(parseCamundaDate(vars.paidOn.value, "paidOn") === Date.parse("2025-03-04T05:06:07.089Z"), `paidOn ${vars.paidOn.value}`);
  check(!("scratch" in vars), "the local variable outlived the task");
  const success = await history(created.id, "successLog");
  check(success.length === 1 && success[0].workerId === workerId, `success log: ${JSON.stringify(success)}`);
  return "8 variables read (every type), 9 written lower-case typed, stored capitalised; local one dropped; success log";
}

async function scenarioFailure() {
  const topic = `js-failure-${suffix}`;
  const created = await createTask(topic, `pi-failure-${suffix}`);
  const failedOnce = deferred();
  const seen = [];

  const run = subscribeFor(topic, async ({ task, taskService, delivery }) => {
    seen.push({ retries: task.retries, errorMessage: task.errorMessage, errorDetails: task.errorDetails });
    if (delivery === 1) {
      await taskService.handleFailure(task, {
        errorMessage: "payment gateway down",
        errorDetails: "Error: ECONNREFUSED\n    at gateway.js:17",
        retries: 0,
        retryTimeout: 0,
      });
      failedOnce.resolve();
      return undefined;
    }
    await taskService.complete(task);
    return { done: task };
  });
  try {
    await withTimeout(failedOnce.promise, "the handler to report the failure");
    const failed = await getTask(created.id);
    check(failed.status === 200 && failed.json.retries === 0, `task after failure: ${failed.text}`);
    check(failed.json.errorMessage === "payment gateway down", `errorMessage ${failed.json.errorMessage}`);
    const open = await incidents(created.id);
    check(open.length === 1 && open[0].incidentMessage === "payment gateway down", `incidents: ${JSON.stringify(open)}`);
    const details = await http("GET", `/external-task/${created.id}/errorDetails`);
    check(details.text === "Error: ECONNREFUSED\n    at gateway.js:17", `errorDetails: ${details.text}`);
    // With retries 0 the task must not come back: give the client a few polls to (wrongly) fetch it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    check(seen.length === 1, `the task was handed out again with retries 0: ${JSON.stringify(seen)}`);

    const put = await http("PUT", `/external-task/${created.id}/retries`, { retries: 1 });
    check(put.status === 204 && put.text === "", `PUT retries: ${put.status} ${put.text}`);
    checkEqual(await incidents(created.id), [], "incidents after PUT retries");

    await withTimeout(run.promise, "the client to fetch the task again after PUT retries");
  } finally {
    run.stop();
  }
  checkEqual(seen, [
    { retries: null, errorMessage: null, errorDetails: null },
    { retries: 1, errorMessage: "payment gateway down", errorDetails: "Error: ECONNREFUSED\n    at gateway.js:17" },
  ], "what the handler saw on each delivery");
  const gone = await getTask(created.id);
  check(gone.status === 404, `task after complete: ${gone.status}`);
  const failures = await history(created.id, "failureLog");
  check(failures.length === 1, `failure logs: ${JSON.stringify(failures)}`);
  return "failure with retries 0 -> incident + errorDetails; not handed out; PUT retries 204 -> incident resolved -> fetched again (retries 1) -> completed";
}

async function scenarioBpmnError() {
  const topic = `js-bpmn-${suffix}`;
  const pi = `pi-bpmn-${suffix}`;
  const created = await createTask(topic, pi);

  const run = subscribeFor(topic, async ({ task, taskService }) => {
    const variables = new Variables().set("reason", "duplicate").set("score", 312);
    await taskService.handleBpmnError(task, "INVOICE_REJECTED", "duplicate invoice", variables);
    return { done: task };
  });
  try {
    await withTimeout(run.promise, "the handler to throw the BPMN error");
  } finally {
    run.stop();
  }
  const gone = await getTask(created.id);
  check(gone.status === 404, `task after bpmnError: ${gone.status} ${gone.text}`);
  const deletions = await history(created.id, "deletionLog");
  check(deletions.length === 1 && deletions[0].workerId === workerId, `deletion log: ${JSON.stringify(deletions)}`);
  const vars = await processVariables(pi);
  checkEqual([vars.reason, vars.score], [
    { type: "String", value: "duplicate", valueInfo: {} },
    { type: "Integer", value: 312, valueInfo: {} },
  ], "variables sent with the BPMN error");
  return "handleBpmnError with variables -> task gone, deletion log, variables on the process instance";
}

async function scenarioExtendLock() {
  const topic = `js-extend-${suffix}`;
  const created = await createTask(topic, `pi-extend-${suffix}`);

  const run = subscribeFor(topic, async ({ task, taskService }) => {
    const before = parseCamundaDate(task.lockExpirationTime, "lockExpirationTime");
    await taskService.extendLock(task, 600_000);
    const after = await getTask(task.id);
    check(after.status === 200 && after.json.workerId === workerId, `task after extendLock: ${after.text}`);
    const extended = parseCamundaDate(after.json.lockExpirationTime, "extended lockExpirationTime");
    check(extended - before > 500_000, `lock expiry moved by ${(extended - before) / 1000} s, expected about 580 s`);
    await taskService.complete(task);
    return { done: (extended - before) / 1000 };
  });
  let moved;
  try {
    moved = await withTimeout(run.promise, "the handler to extend the lock");
  } finally {
    run.stop();
  }
  const gone = await getTask(created.id);
  check(gone.status === 404, `task after complete: ${gone.status}`);
  return `extendLock(600000) moved the expiry by ${moved.toFixed(1)} s; completed afterwards`;
}

async function scenarioUnlock() {
  const topic = `js-unlock-${suffix}`;
  const created = await createTask(topic, `pi-unlock-${suffix}`);
  const afterUnlock = [];

  const run = subscribeFor(topic, async ({ task, taskService, delivery }) => {
    if (delivery === 1) {
      await taskService.unlock(task);  // POST with no body and no Content-Type
      const unlocked = await getTask(task.id);
      afterUnlock.push(unlocked.json);
      return undefined;
    }
    await taskService.complete(task);
    return { done: delivery };
  });
  try {
    await withTimeout(run.promise, "the client to fetch the unlocked task again");
  } finally {
    run.stop();
  }
  check(afterUnlock.length === 1, `unlock was not observed: ${JSON.stringify(afterUnlock)}`);
  check(afterUnlock[0].workerId === null && afterUnlock[0].lockExpirationTime === null,
    `task after unlock: ${JSON.stringify(afterUnlock[0])}`);
  const gone = await getTask(created.id);
  check(gone.status === 404, `task after complete: ${gone.status}`);
  return "unlock cleared worker and expiry; the client fetched the task again and completed it";
}

// ---------------------------------------------------------------------------------------------

const scenarios = [
  ["complete with typed variables", scenarioComplete],
  ["failure -> incident -> PUT retries -> fetched again", scenarioFailure],
  ["handleBpmnError", scenarioBpmnError],
  ["extendLock", scenarioExtendLock],
  ["unlock", scenarioUnlock],
];

console.log(`camunda-external-task-client-js against ${BASE_URL} (worker ${workerId})`);
const results = [];
const started = Date.now();
for (const [name, scenario] of scenarios) {
  const errorsBefore = clientErrors.length;
  try {
    const detail = await scenario();
    const newErrors = clientErrors.slice(errorsBefore);
    if (newErrors.length) throw new CheckFailed(`client reported errors:\n    ${newErrors.join("\n    ")}`);
    results.push([name, true, detail]);
    console.log(`PASS  ${name}: ${detail}`);
  } catch (error) {
    const newErrors = clientErrors.slice(errorsBefore);
    const reason = error instanceof CheckFailed ? error.message : error.stack || String(error);
    const extra = newErrors.length ? `\n    client errors:\n    ${newErrors.join("\n    ")}` : "";
    results.push([name, false, reason]);
    console.log(`FAIL  ${name}: ${reason}${extra}`);
  }
}
client.stop();

const failed = results.filter(([, ok]) => !ok);
console.log(
  `\n${results.length - failed.length}/${results.length} scenarios passed in ${((Date.now() - started) / 1000).toFixed(1)} s` +
    (failed.length ? `; FAILED: ${failed.map(([name]) => name).join(", ")}` : "")
);
// The client re-arms a poll timer; exit explicitly rather than wait for it.
process.exit(failed.length ? 1 : 0);
