"""What each stored ledger-day file shows in the UI: its figures, amounts as the accountant
reads them, a preview of its rows, and paths to open it.

Only this ledger-day's figures: anything across days belongs in the report, not in a
partition's metadata, which the UI shows one partition at a time.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from vipps_pipeline.defs.tables import findings_table, table
from vipps_pipeline.domain import Status, minor_to_text
from vipps_pipeline.store.ledgers import ledger_currency
from vipps_pipeline.store.paths import findings_path, journal_csv_path, journal_path
from vipps_pipeline.sync import engine as lr
from vipps_pipeline.sync.ingest import DaySummary

PREVIEW_COLUMNS = [
    "seq",
    "time",
    "entry_type",
    "psp_reference",
    "amount",
    "balance_before",
    "balance_after",
]
AMOUNTS = ("balance", "sum_amount", "payout_amount", "reserve_kept")
"""Metadata names ending so are amounts in minor units: each gets a ``_display`` twin."""
API_SAID = {"404": "HTTP 404", "tryLater": "tryLater: true"}
FINDING_STATUSES = tuple(
    s.value for s in (Status.PASS, Status.FAIL, Status.PENDING, Status.UNKNOWN)
)


def money(amount: int | None, currency: str | None) -> str | None:
    """Minor units as the accountant reads them: "1234.56 NOK" (None stays None)."""
    if amount is None:
        return None
    return f"{minor_to_text(amount, currency)} {currency or ''}".strip()


def _money_metadata(md: dict[str, object], currency: str | None) -> dict[str, object]:
    """Each amount in minor units (an integer, for sorting and plots) beside its display."""
    out: dict[str, object] = {}
    for name, value in md.items():
        out[name] = value
        if isinstance(value, int) and not isinstance(value, bool) and name.endswith(AMOUNTS):
            out[f"{name}_display"] = money(value, currency)
    return out


def report_metadata(s: DaySummary, timezone: str) -> dict[str, object]:
    """This ledger-day's figures only; times shown in the ledger's timezone."""
    currency = next(iter(s.currencies), None)
    tz = ZoneInfo(timezone)
    preview = [
        {
            **row,
            "time": row["time"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
            if row.get("time")
            else None,
        }
        for row in s.preview
    ]
    units = f"minor units of {currency}"
    return _money_metadata(
        {
            "ledger": s.ledger_id,
            "date": s.ledger_date.isoformat(),
            "topic": s.topic,
            "currency": currency or "",
            "rows": s.rows,
            "pages": s.pages,
            "counts_by_entry_type": dg.MetadataValue.json(dict(sorted(s.counts_by_type.items()))),
            "opening_balance": s.opening_balance,
            "closing_balance": s.closing_balance,
            "sum_amount": s.sum_amount,
            "path": dg.MetadataValue.path(str(s.path.resolve())),
            "preview": table(
                preview,
                PREVIEW_COLUMNS,
                {
                    "time": f"in {timezone}",
                    "amount": units,
                    "balance_before": units,
                    "balance_after": units,
                },
            ),
        },
        currency,
    )


def statement_metadata(rows: Iterable[dict], path: str) -> dict[str, object]:
    by_topic = {r["topic"]: r for r in rows}
    funds = by_topic["funds"]
    currency = funds["currency"] or by_topic["fees"]["currency"]
    md: dict[str, object] = {
        f"{topic}_{name}": by_topic[topic][name]
        for topic in ("funds", "fees")
        for name in ("entries", "opening_balance", "closing_balance", "sum_amount")
    }
    md |= {
        "payout_amount": funds["payout_amount"],
        "payout_reference": funds["payout_reference"] or "",
        "reserve_kept": funds["reserve_kept"],
        "settlement": funds["settlement"] or "unknown",
        "currency": currency or "",
        "path": dg.MetadataValue.path(path),
    }
    return _money_metadata(md, currency)


def journal_metadata(event: lr.JournalStored, data_dir: Path) -> dict[str, object]:
    path = journal_path(data_dir, event.ledger_id, event.ledger_date).resolve()
    csv = journal_csv_path(data_dir, event.ledger_id, event.ledger_date).resolve()
    return {
        "lines": event.lines,
        "debits_and_credits": event.debit,
        "debits_and_credits_display": f"{minor_to_text(event.debit, event.currency)} "
        f"{event.currency or ''}".strip(),
        "balanced": event.check.balanced,
        "unmapped_entry_types": ", ".join(t for _, t, _ in event.check.unmapped) or "none",
        "path": dg.MetadataValue.path(str(path)),
        "csv": dg.MetadataValue.path(str(csv)),
    }


def journal_check_metadata(event: lr.JournalStored) -> dict[str, object]:
    """The entry types to map, each with the amount it moved its ledger (none: no table)."""
    md: dict[str, object] = {"balanced": event.check.balanced}
    if event.check.unmapped:
        rows = [
            {"topic": topic, "entry_type": entry_type, "amount": money(amount, event.currency)}
            for topic, entry_type, amount in event.check.unmapped
        ]
        md["to_map"] = table(rows, ["topic", "entry_type", "amount"])
    return md


def findings_metadata(event: lr.FindingsStored, data_dir: Path) -> dict[str, object]:
    """Counts per status beside the findings that are not a pass (a pass needs no reading)."""
    findings = list(event.findings)
    counts = {str(k): 0 for k in FINDING_STATUSES}  # plain keys: Dagster stores no StrEnum
    for f in findings:
        counts[str(f["status"])] += 1
    path = findings_path(data_dir, event.ledger_id, event.ledger_date).resolve()
    open_ = [f for f in findings if f["status"] != Status.PASS]
    currency = ledger_currency(data_dir, event.ledger_id, event.ledger_date) if open_ else None
    return {
        **counts,
        # none when every check passes (the counts say so): an empty table cost a third of
        # storing the materialization
        **({"findings": findings_table(open_, currency)} if open_ else {}),
        "path": dg.MetadataValue.path(str(path)),
    }


def next_poll(after: datetime, poll_minute: int, timezone: str) -> str:
    """The first hourly sync poll (at ``poll_minute``) after ``after``, as the user reads it:
    when the pipeline asks the API about a not-ready day again."""
    tick = after.replace(minute=poll_minute, second=0, microsecond=0)
    if tick <= after:
        tick += timedelta(hours=1)
    return f"{tick.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M} ({timezone})"


def not_ready_metadata(
    event: lr.NotReadyFound, poll_minute: int | None, timezone: str
) -> dict[str, object]:
    """Why a ledger-day is missing, on its partition: Dagster shows no reason for a missing
    partition otherwise. A 404 is the HTTP status; ``tryLater`` comes on an HTTP 200 page."""
    p = event.probe
    metadata: dict[str, object] = {
        "not_ready_reason": API_SAID[p.reason],
        "topic": p.topic,
        "http_status": 404 if p.reason == "404" else 200,
        "tryLater": p.reason == "tryLater",
        "detail": p.detail,
        "open_since": p.first_seen.isoformat(timespec="seconds"),
        "later_dates_not_asked": event.not_asked,
    }
    if poll_minute is not None:
        metadata["next_poll"] = next_poll(p.last_seen, poll_minute, timezone)
    return metadata
