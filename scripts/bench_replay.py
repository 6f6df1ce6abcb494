"""Replay speed: rebuild every read model from an event store of ``--events`` events, then verify.

    python scripts/bench_replay.py --database-url postgresql://postgres@127.0.0.1:5432/test \
        [--events 1000000] [--processes N] [--json]

The store is filled in a fresh schema (or SQLite file) through the domain model itself: order
processes whose tasks are created, locked, failed with retries, locked again and completed, with
process variables set on completion, and one order in twenty left in an incident; ten events per
order (nine for those). Filling is not timed. Then the store is replayed and verified through the
same calls ``extask replay`` and ``extask replay --verify`` make, and their events per second are
printed. ``--fill-only`` fills the database at the URL instead, keeps it and stops: a store of a
million events for ``scripts/bench_steady.py --existing``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for scripts.bench; extask itself comes from the install

from extask.domain.external_task import ExternalTask  # noqa: E402
from extask.domain.process_instance import ProcessInstance  # noqa: E402
from extask.domain.variables import typed_variables  # noqa: E402
from extask.infrastructure.bootstrap import build_engine  # noqa: E402
from scripts.bench import fresh_database  # noqa: E402

EVENTS_PER_ORDER = 10
ORDERS_PER_COMMIT = 500


def typed(values: dict) -> dict:
    return {name: value.to_dict() for name, value in typed_variables(values).items()}


def one_order(index: int, now: datetime) -> list:
    """A process instance and its two tasks, through ten events (nine when the order ends in an
    incident, plus the incident)."""
    step = timedelta(milliseconds=1)
    order = ProcessInstance.start(
        now=now, process_instance_id=f"order-{index}", business_key=f"order-{index}",
        process_definition_key="order", variables=typed({"amount": index * 1.25, "customer": f"c{index % 97}"}),
    )
    invoice = ExternalTask.create(now=now, topic_name="invoice", process_instance_id=order.process_instance_id,
                                  process_definition_key="order", activity_id="invoice", priority=index % 5)
    invoice.fetch_lock("billing-1", 60_000, now + step)
    invoice_number = typed({"invoiceNumber": f"INV-{index}"})
    invoice.complete("billing-1", now + 2 * step, variables=invoice_number)
    order.set_variables(now + 2 * step, invoice_number)
    shipping = ExternalTask.create(now=now + 3 * step, topic_name="shipping", process_instance_id=order.process_instance_id,
                                   process_definition_key="order", activity_id="ship")
    shipping.fetch_lock("shipping-1", 60_000, now + 4 * step)
    if index % 20 == 0:
        shipping.handle_failure("shipping-1", now + 5 * step, error_message="carrier down",
                                error_details="Traceback: carrier timeout", retries=0)
    else:
        shipping.handle_failure("shipping-1", now + 5 * step, error_message="carrier busy", retries=2, retry_timeout=0)
        shipping.fetch_lock("shipping-1", 60_000, now + 6 * step)
        shipping.complete("shipping-1", now + 7 * step)
    return [order, invoice, shipping]


def fill(engine, events: int) -> int:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    orders = events // EVENTS_PER_ORDER
    for first in range(0, orders, ORDERS_PER_COMMIT):
        groups = [one_order(i, start + timedelta(seconds=i)) for i in range(first, min(first + ORDERS_PER_COMMIT, orders))]
        if not all(engine.event_store.commit(groups)):
            raise RuntimeError("a group was refused while filling an empty store")
        engine.event_store.forget([aggregate.id for group in groups for aggregate in group])
    return engine.event_store.recorder.max_notification_id() or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=None, help="processes that fold (default: as extask replay)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--fill-only", action="store_true",
        help="fill the database at the URL as it is (not a fresh one), keep it, and stop: a large store for other benchmarks",
    )
    args = parser.parse_args()
    if args.fill_only:
        engine = build_engine(args.database_url)
        try:
            print(f"filled {fill(engine, args.events):,} events", file=sys.stderr)
        finally:
            engine.close()
        return
    with fresh_database(args.database_url) as url:
        engine = build_engine(url)
        try:
            began = time.perf_counter()
            stored = fill(engine, args.events)
            fill_seconds = time.perf_counter() - began
            print(f"filled {stored:,} events in {fill_seconds:.0f} s", file=sys.stderr)
            replay = engine.replay.rebuild(processes=args.processes)
            verify = engine.replay.verify()
        finally:
            engine.close()
    figures = {
        "database": url.split(":", 1)[0],
        "events": replay.events,
        "replay_seconds": round(replay.seconds, 2),
        "replay_events_per_s": round(replay.events / replay.seconds),
        "replay_processes": replay.processes,
        "verify_seconds": round(verify.seconds, 2),
        "verify_events_per_s": round(verify.events / verify.seconds),
        "differences": len(verify.differences),
        "rows": replay.rows,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"replay of {figures['events']:,} events in {replay.processes} process(es): {figures['replay_seconds']} s, "
          f"{figures['replay_events_per_s']:,} events/s")
    print(f"verify of {verify.events:,} events: {figures['verify_seconds']} s, {figures['verify_events_per_s']:,} events/s, "
          f"{figures['differences']} differences")
    print("rows: " + ", ".join(f"{table} {count:,}" for table, count in replay.rows.items()))


if __name__ == "__main__":
    main()
