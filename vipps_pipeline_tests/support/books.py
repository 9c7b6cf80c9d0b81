"""Closed reports stored straight from the simulator, for the books to read."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from vipps_pipeline.api.parse import page_to_batch
from vipps_pipeline.simulator import World
from vipps_pipeline.store.atomic import write_batches
from vipps_pipeline.store.paths import report_path
from vipps_pipeline.store.schemas import REPORT_SCHEMA
from vipps_pipeline_tests.support.clock import NOW


def store(world: World, data_dir: Path, ledger_id: str, dates: list[date]) -> list[date]:
    """Store the final report of every closed date, through the real parser and writer."""
    stored = []
    spec = world.ledgers[ledger_id]
    for d in dates:
        if world.status(spec, d, NOW) != "closed":
            continue
        for topic in ("funds", "fees"):
            store_report(
                data_dir, ledger_id, topic, d, world.day(ledger_id, topic, d).page(0, 10**7)
            )
        stored.append(d)
    return stored


def store_report(data_dir: Path, ledger_id: str, topic: str, d: date, entries: list[dict]) -> None:
    """One ledger-day's report file from the API's entries, through the real parser and writer."""
    batch = page_to_batch(
        entries, ledger_id=ledger_id, topic=topic, ledger_date=d, seq_start=0, include_gdpr=False
    )
    write_batches(report_path(data_dir, topic, ledger_id, d), REPORT_SCHEMA, [batch])


def commit_tables(data_dir: Path) -> dict[str, dict[str, int]]:
    """Commit files a test wrote straight through the writers into the tables, as the sync
    does at each chunk's end (the readers of history read the tables)."""
    from vipps_pipeline.sync.tables import catch_up_stored

    return catch_up_stored(data_dir)
