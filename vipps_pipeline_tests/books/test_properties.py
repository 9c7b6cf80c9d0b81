"""Property-based tests: any valid day round-trips; any single-field corruption is caught."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vipps_pipeline.api.currencies import ISO_4217
from vipps_pipeline.api.errors import BadReport
from vipps_pipeline.api.parse import page_to_batch
from vipps_pipeline.books import reconcile, statements
from vipps_pipeline.store.atomic import write_batches
from vipps_pipeline.store.schemas import REPORT_SCHEMA

DAY = date(2026, 3, 29)  # a DST change in Oslo
OSLO = ZoneInfo("Europe/Oslo")
TYPES = ["capture", "refund", "correction", "top-up"]
BALANCE_CHECKS = {"row_arithmetic", "chain_within_day", "day_movement"}
LEDGER = "100001"
INT = st.integers(min_value=-(2**50), max_value=2**50)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)


@st.composite
def valid_days(draw) -> list[dict]:
    n = draw(st.integers(min_value=0, max_value=40))
    balance = draw(INT)
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)
    entries = []
    for _ in range(n):
        amount = draw(INT)
        t = start + timedelta(microseconds=draw(st.integers(0, 23 * 3600 * 10**6)))
        local = draw(st.booleans())
        entries.append({
            "pspReference": draw(st.text("0123456789", min_size=1, max_size=12)),
            "time": t.astimezone(OSLO if local else UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%f" + ("%z" if local else "Z")
            ),
            "ledgerDate": DAY.isoformat(),
            "entryType": draw(st.sampled_from(TYPES) | TEXT.filter(bool)),
            "reference": draw(TEXT),
            "currency": draw(st.sampled_from(["NOK", "DKK", "EUR", "SEK"])),
            "amount": amount,
            "balanceBefore": balance,
            "balanceAfter": balance + amount,
            "recipientHandle": draw(st.none() | TEXT),
        })  # fmt: skip
        balance += amount
    return entries


def _parse(entries: list[dict], page: int) -> list[pa.RecordBatch]:
    return [
        page_to_batch(entries[i : i + page], ledger_id=LEDGER, topic="funds", ledger_date=DAY,
                      seq_start=i, include_gdpr=False)
        for i in range(0, len(entries), page)
    ]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_days(), st.integers(min_value=1, max_value=9))
def test_any_valid_day_round_trips_through_parquet_unchanged(entries, page):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.parquet"
        assert write_batches(path, REPORT_SCHEMA, _parse(entries, page)) == len(entries)
        rows = pq.read_table(path).to_pylist()
    assert len(rows) == len(entries)
    for i, (row, e) in enumerate(zip(rows, entries, strict=True)):
        assert row["seq"] == i
        assert (row["psp_reference"], row["entry_type"], row["reference"], row["currency"]) == (
            e["pspReference"], e["entryType"], e["reference"], e["currency"])  # fmt: skip
        assert (row["amount"], row["balance_before"], row["balance_after"]) == (
            e["amount"], e["balanceBefore"], e["balanceAfter"])  # fmt: skip
        assert row["recipient_handle"] == e["recipientHandle"]
        expected = datetime.fromisoformat(e["time"].replace("Z", "+00:00")).astimezone(UTC)
        assert row["time"] == expected


def _caught(entries: list[dict]) -> bool:
    """True when the parser refuses the day or a balance check fails it."""
    try:
        batches = _parse(entries, 1000)
    except BadReport:
        return True
    table = pa.Table.from_batches(batches, schema=REPORT_SCHEMA)
    frame = statements.to_frame(table)
    stored = [("funds", DAY), ("fees", DAY)]
    findings = reconcile.reconcile(
        ledger_id=LEDGER,
        funds=frame,
        fees=statements.to_frame(REPORT_SCHEMA.empty_table()),
        statement_rows=statements.statements(frame, LEDGER, stored).to_pandas(),
        targets=[DAY],
        funds_dates={DAY},
        fees_dates={DAY},
        first_date=DAY,
        window=1,
    )
    failed = [f for f in findings.to_pylist() if f["status"] == "fail"]
    assert all(f["ledger_date"] == DAY for f in failed)
    return any(f["check"] in BALANCE_CHECKS for f in failed)


MONEY = ("amount", "balanceBefore", "balanceAfter")
STRUCTURE = {
    "drop": lambda e, f: e.pop(f),
    "string": lambda e, f: e.__setitem__(f, str(e[f])),
    "float": lambda e, f: e.__setitem__(f, e[f] + 0.25 if isinstance(e[f], int) else 0.25),
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid_days().filter(bool),
    st.data(),
)
def test_any_single_field_corruption_is_detected(entries, data):
    i = data.draw(st.integers(min_value=0, max_value=len(entries) - 1))
    kind = data.draw(st.sampled_from(["money", "drop", "string", "float", "currency", "date"]))
    bad = [dict(e) for e in entries]
    if kind == "money":
        field = data.draw(st.sampled_from(MONEY))
        bad[i][field] += data.draw(INT.filter(lambda x: x != 0))
    elif kind in STRUCTURE:
        # `time` and `ledgerDate` may be missing (the vendor's own examples lack them)
        field = data.draw(st.sampled_from([*MONEY, "currency", "entryType"]))
        if kind != "drop" and field not in MONEY:
            field = data.draw(st.sampled_from(MONEY))
        STRUCTURE[kind](bad[i], field)
    elif kind == "currency":
        letters = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3)
        bad[i]["currency"] = data.draw(letters.filter(lambda c: c not in ISO_4217))
    else:
        bad[i]["ledgerDate"] = (DAY + timedelta(days=data.draw(st.integers(1, 400)))).isoformat()
    assert _caught(bad), (kind, i)
    assert not _caught(entries)
