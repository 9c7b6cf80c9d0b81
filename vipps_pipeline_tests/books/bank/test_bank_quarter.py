"""Done when: a simulated quarter of every ledger with its bank statements closes the loop.

Every payout is matched except those the simulated bank deliberately lost or returned, no
payout is called missing that is not, importing everything twice changes nothing, and in the
books 1580 equals each ledger's balance and 1945 the payouts in transit on every date.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from vipps_pipeline.books.derive import write_journal
from vipps_pipeline.books.journal import load_chart
from vipps_pipeline.cli.main import main
from vipps_pipeline.outputs.query import connect
from vipps_pipeline.simulator import World
from vipps_pipeline.simulator.bank import country, simulate_bank
from vipps_pipeline.simulator.bank_files import write_bank_files
from vipps_pipeline.store.paths import payout_matches_path
from vipps_pipeline_tests.support.books import commit_tables, store
from vipps_pipeline_tests.support.clock import days

START, END, UNTIL = date(2025, 4, 1), date(2025, 6, 30), date(2025, 7, 10)
"""A quarter with Easter, May Day, Ascension, Whit Monday and Norway's 17 May in it; the
statements reach ten days past its end, so every payout of the quarter is due."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quarter(tmp_path_factory: pytest.TempPathFactory):
    world = World()
    data = tmp_path_factory.mktemp("bank") / "data"
    for ledger_id in world.ledgers:
        store(world, data, ledger_id, days(START, END))
    commit_tables(data)  # as the sync does at each chunk's end: the readers read the tables
    bank = simulate_bank(world, START, END, UNTIL)
    accounts = {s.bank_account[1]: country(s) for s in world.ledgers.values()}
    files = write_bank_files(bank.lines, data.parent / "statements", accounts, START, UNTIL)
    return world, data, bank, files


def _import(data: Path, files: list[Path], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = main(["bank", "import", *map(str, files), "--data-dir", str(data)])
    return code, capsys.readouterr().out


def _expected(fate: str, ledger_date: date) -> str:
    if fate == "aborted":  # the return lands the next day: after the quarter, it is not stored
        return "aborted" if ledger_date < END else "missing"
    return "missing" if fate == "missing" else "matched"


def test_every_payout_is_decided_as_the_bank_made_it(quarter, capsys):
    _, data, bank, files = quarter
    code, out = _import(data, files, capsys)
    assert code == 1 and "missing: " in out  # the deliberately lost ones are named
    payouts = pq.read_table(payout_matches_path(data)).to_pandas()
    fates = payouts.psp_reference.map(bank.fates)
    assert fates.notna().all() and len(payouts) == len(bank.fates)
    expected = [_expected(f, d) for f, d in zip(fates, payouts.ledger_date, strict=True)]
    assert payouts.status.tolist() == expected
    by_fate = payouts.assign(fate=fates).groupby("fate").matched_by.agg(lambda s: set(s))
    assert by_fate["normal"] == {"text"} and by_fate["late"] == {"text"}
    assert by_fate["no_text"] == {"amount"} and by_fate["short"] == {"amount"}
    late = payouts[fates == "late"]
    assert (late.bank_booking_date > late.due_date).all() and len(late) > 0
    print("quarter:", len(payouts), "payouts;", dict(Counter(fates)), dict(Counter(expected)))
    before = pq.read_table(payout_matches_path(data))
    code, out = _import(data, files, capsys)
    assert "error" not in out and " 0 new line(s)" in out
    assert all(" 0 new line(s)" in ln for ln in out.splitlines() if "new line" in ln)
    assert pq.read_table(payout_matches_path(data)).equals(before)
    lines = connect(data).sql("select status, count(*) n from bank_lines group by 1").fetchall()
    assert dict(lines)["matched"] == (payouts.status == "matched").sum()


def _balance(lines: pd.DataFrame, account: str, on: date) -> int:
    mine = lines[(lines.account == account) & (lines.ledger_date <= on)]
    return int(mine.debit.sum() - mine.credit.sum())


def test_1580_is_the_ledger_balance_and_1945_the_payouts_in_transit(quarter, capsys):
    world, data, _, files = quarter
    _import(data, files, capsys)
    chart = load_chart()
    con = connect(data)
    payouts = con.sql("select * from payouts").to_arrow_table().to_pandas()
    aborted_on = dict(
        con.sql(
            "select psp_reference, ledger_date from entries where entry_type = 'payout-aborted'"
        ).fetchall()
    )
    for ledger_id in world.ledgers:
        write_journal(data, ledger_id, days(START, END), chart)
    commit_tables(data)  # the journals rebooked here reach the journal table
    journal = connect(data).sql("select * from journal").to_arrow_table().to_pandas()
    funds = (
        con.sql(
            "select ledger_id, ledger_date, seq, balance_after from entries "
            "where topic = 'funds' order by ledger_id, ledger_date, seq"
        )
        .to_arrow_table()
        .to_pandas()
    )
    for ledger_id in world.ledgers:
        lines = journal[journal.ledger_id == ledger_id]
        mine = payouts[payouts.ledger_id == ledger_id]
        closing = funds[funds.ledger_id == ledger_id].groupby("ledger_date").balance_after.last()
        balance = None
        for d in days(START, UNTIL):
            if d in closing.index:
                balance = int(closing[d])
            if d <= END and balance is not None:
                assert _balance(lines, "1580", d) == balance, (ledger_id, d)
            returned = [aborted_on.get(p, date.max) <= d for p in mine.psp_reference]
            transit = mine[
                (mine.ledger_date <= d)
                & ~pd.Series(returned, index=mine.index, dtype=bool)
                & ~((mine.status == "matched") & (mine.bank_booking_date <= d))
            ]
            assert _balance(lines, "1945", d) == int(transit.amount.sum()), (ledger_id, d)
    assert (journal.account == "2050").any()  # the opening balances were booked
