"""The journal: balanced every day, tied to the reports, accounts from a user-editable file."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from vipps_pipeline.books import derive as books
from vipps_pipeline.books import journal
from vipps_pipeline.settings import SettingsError
from vipps_pipeline.simulator import LEDGERS, Faults, World
from vipps_pipeline.simulator.model import UNKNOWN_ENTRY_TYPE
from vipps_pipeline_tests.support.books import store
from vipps_pipeline_tests.support.clock import LEDGER_IDS, days

MONTH = days(date(2026, 10, 1), date(2026, 10, 31))
DOCUMENTED = {
    "funds": {
        "capture",
        "refund",
        "fees-retained",
        "payout-scheduled",
        "scheduled-for-payout",
        "payout-aborted",
        "retained-disputed-capture",
        "returned-disputed-capture",
        "correction",
        "top-up",
        "credit-note",
    },
    "fees": {
        "capture-fee",
        "fees-retained",
        "fees-invoiced",
        "credit-note",
        "service-fee",
        "correction",
    },
}
"""The entry types the vendor's entry-type reference and API guide document, per topic."""


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> tuple[Path, dict]:
    data = tmp_path_factory.mktemp("journal")
    world, chart, checks = World(seed=0), journal.load_chart(), {}
    for ledger_id in LEDGER_IDS:
        stored = store(world, data, ledger_id, MONTH)
        booked = books.write_journal(data, ledger_id, stored, chart)
        checks.update({(ledger_id, d): c for d, (_, c) in booked.items()})
    return data, checks


def test_a_month_of_every_ledger_balances_every_day_and_ties_to_the_reports(month):
    data, checks = month
    lines = ds.dataset(data / "journal", format="parquet").to_table().to_pandas()
    assert set(lines.ledger_id) == set(LEDGER_IDS)
    per_day = lines.groupby(["ledger_id", "ledger_date"])[["debit", "credit"]].sum()
    assert (per_day.debit == per_day.credit).all()
    assert len(per_day) >= 7 * 28, "quiet days have no lines"
    # the simulator sends only documented types: nothing to report, nothing in suspense
    assert checks and all(c == journal.DayCheck() for c in checks.values())
    assert not lines.unmapped.any()
    assert (lines.debit >= 0).all() and (lines.credit >= 0).all()
    assert not ((lines.debit > 0) & (lines.credit > 0)).any()


def test_the_simulator_sends_only_documented_entry_types_unless_asked_for_an_unknown_one():
    asked = World(seed=0, faults=Faults(unknown_entry_type=True))
    for world, unknown in ((World(seed=0), False), (asked, True)):
        sent: dict[str, set[str]] = {"funds": set(), "fees": set()}
        for spec in LEDGERS:
            for d in MONTH:
                for topic in sent:
                    sent[topic] |= {
                        e["entryType"] for e in world.day(spec.ledger_id, topic, d).entries
                    }
        assert sent["fees"] <= DOCUMENTED["fees"]
        assert sent["funds"] - DOCUMENTED["funds"] == ({UNKNOWN_ENTRY_TYPE} if unknown else set())


def test_an_unknown_entry_type_balances_and_is_a_warning_naming_the_type_and_amount(tmp_path):
    world = World(seed=0, faults=Faults(unknown_entry_type=True))
    stored = store(world, tmp_path, "100001", MONTH)
    booked = books.write_journal(tmp_path, "100001", stored, journal.load_chart())
    odd = {d: c for d, (_, c) in booked.items() if c.unmapped}
    assert odd, "every seventh day brings the unknown type"
    for d, check in odd.items():
        assert check.balanced and not check.problems, d
        assert check.unmapped == (("funds", UNKNOWN_ENTRY_TYPE, 321),)
        assert check.warning("NOK") == (
            "balanced, but entry type(s) without an account were booked to suspense account "
            "2999 (map them in vipps_pipeline/books/journal_accounts.toml): "
            "funds interest-adjustment 3.21 NOK"
        )
    suspense = ds.dataset(tmp_path / "journal", format="parquet").to_table().to_pandas()
    suspense = suspense[suspense.unmapped]
    assert set(suspense.entry_type) == {UNKNOWN_ENTRY_TYPE}
    assert set(suspense.account) == {"2999", "1580"}, "funds held against suspense"


def test_the_vendors_model_payouts_are_transfers_sales_are_booked_against_funds_held(month):
    data, _ = month
    day = ds.dataset(data / "journal/100001", format="parquet").to_table().to_pandas()
    day = day[day.ledger_date == date(2026, 10, 14)]
    capture = day[day.entry_type == "capture"]
    assert set(zip(capture.account, capture.debit > 0, strict=True)) == {
        ("1580", True),  # funds held at Vipps MobilePay
        ("3000", False),  # sales
    }
    payout = day[day.entry_type == "payout-scheduled"]
    assert set(zip(payout.account, payout.debit > 0, strict=True)) == {
        ("1945", True),  # payouts on their way to the bank: a transfer, not income
        ("1580", False),
    }
    fee = day[day.entry_type == "capture-fee"]
    assert set(zip(fee.account, fee.debit > 0, strict=True)) == {("7770", True), ("2460", False)}
    retained = day[(day.entry_type == "fees-retained") & (day.account == "1589")]
    assert retained.debit.sum() == retained.credit.sum(), "the clearing account nets to zero"


def test_the_csv_is_plain_major_units_with_a_header(month):
    data, _ = month
    path = data / "journal-csv/100002/2026/2026-10-14.csv"
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == journal.CSV_COLUMNS
    assert all(r["currency"] == "DKK" for r in rows)
    amounts = [r["debit"] or r["credit"] for r in rows]
    assert all("." in a and len(a.split(".")[1]) == 2 for a in amounts)
    total = sum(float(r["debit"] or 0) for r in rows) - sum(float(r["credit"] or 0) for r in rows)
    assert abs(total) < 1e-6


def test_a_chart_of_your_own_and_one_line_pair_per_entry(tmp_path):
    chart_file = tmp_path / "accounts.toml"
    text = (
        journal.resources.files("vipps_pipeline.books")
        .joinpath("journal_accounts.toml")
        .read_text()
    )
    chart_file.write_text(text.replace('"1580"', '"19401"').replace('\ncapture = "sales"', ""))
    chart = journal.load_chart(chart_file)
    world = World(seed=0)
    stored = store(world, tmp_path, "100001", [date(2026, 10, 14)])
    booked = books.write_journal(tmp_path, "100001", stored, chart, per_entry=True)
    lines, check = booked[date(2026, 10, 14)]
    df = lines.to_pandas()
    assert "19401" in set(df.account) and "1580" not in set(df.account)
    assert check.balanced and [t for _, t, _ in check.unmapped] == ["capture"], "unmapped now"
    entries = len(world.day("100001", "funds", date(2026, 10, 14))) + len(
        world.day("100001", "fees", date(2026, 10, 14))
    )
    assert len(df) == 2 * entries and df.psp_reference.notna().all()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('fees = "fees_owed"', 'fees = "owed"'), "[ledgers] fees = 'owed' is not an account"),
        (('capture = "sales"', 'capture = "sale"'), "[funds] capture = 'sale' is not an account"),
        (("[accounts]", "[accounts]\nbroken = 1"), "[accounts] broken needs a number and a name"),
        (("[accounts]", "[accounts"), "is not valid TOML"),
    ],
)
def test_a_mistake_in_the_chart_names_the_table_and_key(tmp_path, change, named):
    text = (
        journal.resources.files("vipps_pipeline.books")
        .joinpath("journal_accounts.toml")
        .read_text()
    )
    path = tmp_path / "accounts.toml"
    path.write_text(text.replace(*change, 1))
    with pytest.raises(SettingsError) as info:
        journal.load_chart(path)
    assert named in str(info.value) and str(path) in str(info.value)
