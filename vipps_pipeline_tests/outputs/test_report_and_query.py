"""What an accountant opens: the HTML report with its charts, and SQL over the data."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from vipps_pipeline.books import derive as books
from vipps_pipeline.defs.report.assets import ledger_report
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.outputs import html_report as report
from vipps_pipeline.outputs.query import QUESTIONS, VIEWS, connect, run
from vipps_pipeline.simulator import Faults, World
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.paths import journal_csv_path, journal_path
from vipps_pipeline.store.schemas import JOURNAL_SCHEMA
from vipps_pipeline_tests.support.books import commit_tables, store
from vipps_pipeline_tests.support.cli import cli
from vipps_pipeline_tests.support.clock import LEDGER_IDS, days

MONTH = days(date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("accountant")
    world = World(seed=0)
    chart = books.journal.load_chart()
    for ledger_id in LEDGER_IDS:
        stored = store(world, root, ledger_id, MONTH)
        books.write_statements(root, ledger_id, stored)
        books.write_findings(root, ledger_id, stored, first_date=MONTH[0], window=3)
        books.write_journal(root, ledger_id, stored, chart)
    commit_tables(root)
    return root


def test_the_report_draws_every_ledger_and_opens_without_a_server(data):
    index, pictures = report.write_report(data)
    assert sorted(p.ledger_id for p in pictures) == LEDGER_IDS
    page = index.read_text()
    assert page.count('src="data:image/png;base64,') == len(LEDGER_IDS) * len(report.CHARTS)
    assert "http" not in page.replace("https://", "").split("<body>")[0], "nothing to fetch"
    paid = (
        connect(data)
        .execute(
            "select ledger_id, sum(payout_amount) from statements where topic = 'funds' "
            "group by 1 order by 1"
        )
        .fetchall()
    )
    for ledger_id, minor in paid:  # exact, with the currency's digits (NOK, DKK, EUR: 2)
        row = page.split(f"<a href='#l{ledger_id}'>")[1].split("</tr>")[0]
        assert row.endswith(f"<td>{Decimal(minor or 0) / 100:.2f}</td>"), row
    assert "<td>1082377.26</td>" in page
    for ledger_id in LEDGER_IDS:
        for chart in report.CHARTS:
            png = data / "report" / ledger_id / f"{chart}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_asset_shows_the_charts_in_the_ui(data):
    result = dg.materialize(
        [ledger_report], resources={"pipeline": PipelineResource(data_dir=str(data))}
    )
    [mat] = result.asset_materializations_for_node("ledger_report")
    assert mat.metadata["ledgers"].value == len(LEDGER_IDS)
    assert mat.metadata["report"].value.endswith("report/index.html")
    assert "data:image/png;base64," in mat.metadata["ledger_100001"].value


def test_every_ready_made_question_runs(data):
    for name, sql in QUESTIONS.items():
        out = io.StringIO()
        rows = run(data, sql, out=out)
        assert out.getvalue(), name
        if name in (
            "fees paid per month",
            "payouts per month",
            "journal balance per account",
            "journal lines for import",
        ):
            assert rows > 0, name
    out = io.StringIO()
    run(data, QUESTIONS["fees paid per month"], out=out)
    assert "100001" in out.getvalue() and "NOK" in out.getvalue()


def test_a_question_opens_only_the_tables_it_names(data, monkeypatch):
    from vipps_pipeline.outputs import query

    opened: list[str] = []
    real = query.open_table

    def spy(data_dir, name, as_of=None):
        opened.append(name)
        return real(data_dir, name, as_of)

    monkeypatch.setattr(query, "open_table", spy)
    run(data, QUESTIONS["days that failed a check"], out=io.StringIO())
    assert opened == ["findings"]
    opened.clear()
    both = "select count(*) from entries join statements using (ledger_id, ledger_date, topic)"
    assert run(data, both, out=io.StringIO()) == 1
    assert sorted(opened) == ["entries", "statements"]
    assert query.named_tables('select * from "Journal" where 1 = 1') == {"journal"}


def test_the_journal_export_from_the_table_has_the_daily_csv_files_lines(data):
    out = io.StringIO()
    run(data, QUESTIONS["journal lines for import"], as_csv=True, out=out)
    exported = list(csv.DictReader(io.StringIO(out.getvalue())))
    for ledger_id in ("100001", "100007"):  # NOK and DKK
        daily = []
        for day in MONTH:
            path = journal_csv_path(data, ledger_id, day)
            if path.exists():
                daily += list(csv.DictReader(path.open(newline="")))
        mine = [{k: v for k, v in r.items() if k != "ledger_id"} for r in exported]
        mine = [r for r, e in zip(mine, exported, strict=True) if e["ledger_id"] == ledger_id]
        assert daily and mine == daily, ledger_id


def test_the_views_are_documented_and_answer_in_major_units(data):
    con = connect(data)
    assert {r[0] for r in con.execute("show tables").fetchall()} >= set(VIEWS)
    [(minor, major)] = con.execute(
        "select amount, major(amount, currency) from entries "
        "where ledger_id = '100001' and entry_type = 'capture' limit 1"
    ).fetchall()
    assert major == Decimal(minor) / 100 and isinstance(major, Decimal)
    assert con.execute("select major(1234, 'JPY')").fetchall() == [(1234,)]
    docs = (Path(__file__).parents[2] / "docs" / "accounting.md").read_text()
    for view in VIEWS:
        assert f"`{view}`" in docs, view


def test_an_empty_data_folder_answers_with_empty_views(tmp_path):
    out = io.StringIO()
    assert run(tmp_path, "select count(*) as n from findings", out=out) == 1


def test_the_query_command_prints_a_table_or_csv_and_names_a_bad_query(data, tmp_path):
    result = cli("query", "days that failed a check", "--data-dir", str(data), cwd=tmp_path)
    assert result.returncode == 0 and "(0 rows)" in result.stdout
    result = cli(
        "query",
        "select ledger_id, count(*) as days from statements group by 1 order by 1",
        "--csv",
        "--data-dir",
        str(data),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["ledger_id"] for r in rows] == LEDGER_IDS
    bad = cli("query", "select nope from entries", "--data-dir", str(data), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: Binder Error")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_report_command_counts_failed_journals_and_warns_of_unmapped_types(tmp_path):
    """Every check counts: a journal that does not balance is a failed day, one that booked
    an undocumented entry type to suspense a day with a warning, as the UI's checks say."""
    root = tmp_path / "data"
    world = World(seed=0, faults=Faults(unknown_entry_type=True))
    stored = store(world, root, "100001", MONTH)
    books.write_statements(root, "100001", stored)
    books.write_findings(root, "100001", stored, first_date=MONTH[0], window=3)
    booked = books.write_journal(root, "100001", stored, books.journal.load_chart())
    warned = sorted(d for d, (_, check) in booked.items() if check.unmapped)
    assert len(warned) == 4, warned  # every seventh day
    broken = date(2026, 10, 14)  # a journal changed by hand: one debit off by 1 øre
    lines = booked[broken][0].to_pandas()
    lines.loc[lines.debit.idxmax(), "debit"] += 1
    write_table(journal_path(root, "100001", broken), pa.Table.from_pandas(lines, JOURNAL_SCHEMA))
    commit_tables(root)
    assert not (books.read_findings(root).status == "fail").any(), "no finding fails"

    result = cli("report", "--data-dir", str(root), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"1 ledger(s) drawn: {(root / 'report' / 'index.html').resolve()}",
        "days with a failed check: 1; days with a warning: 4",
    ]
    page = (root / "report" / "index.html").read_text()
    assert "<td>NOK</td><td>31</td><td>1</td><td>4</td><td>" in page


def test_payouts_per_month_prints_exact_money_with_the_currency_digits(data, tmp_path):
    """Real rows only (no NaN currency, no 0 payouts), each amount the exact sum of the
    stored minor units, shown with its currency's digits in the table and in CSV."""
    con = connect(data)
    assert con.execute("select typeof(major(1, 'NOK'))").fetchone() == ("DECIMAL(38,4)",)
    assert con.execute("select major(-225011401, 'NOK'), major(7, 'JPY')").fetchone() == (
        Decimal("-2250114.01"),
        Decimal(7),
    )
    expected = con.execute(
        "select ledger_id, sum(payout_amount), count(*) from statements "
        "where topic = 'funds' and payout_amount is not null group by 1 order by 1"
    ).fetchall()
    args = ("query", "payouts per month", "--data-dir", str(data))
    table = cli(*args, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "NaN" not in table.stdout and "e+" not in table.stdout
    assert table.stdout.splitlines()[1].split() == [
        "100001", "NOK", "2026-10-01", "1082377.26", "31"
    ]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(cli(*args, "--csv", cwd=tmp_path).stdout)))
    assert [(r["ledger_id"], r["paid_out"], int(r["payouts"])) for r in rows] == [
        (ledger_id, f"{Decimal(minor) / 100:.2f}", n) for ledger_id, minor, n in expected
    ]
    assert all(r["currency"] and int(r["payouts"]) > 0 for r in rows)


def test_a_mistyped_question_is_named_with_the_known_ones(data, tmp_path):
    bad = cli("query", "payouts per mnth", "--data-dir", str(data), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    [line] = bad.stderr.strip().splitlines()
    assert line.startswith("error: 'payouts per mnth' is neither SQL nor a known question")
    assert "did you mean 'payouts per month'?" in line
    assert all(repr(q) in line for q in QUESTIONS)


def test_query_into_head_ends_quietly(data, tmp_path):
    """``query ... | head``: the reader leaves early; no BrokenPipeError traceback."""
    args = ["query", "select * from range(300000)", "--csv", "--data-dir", str(data)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "vipps_pipeline.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"range\n"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == "", err


def test_empty_views_have_the_stored_types_and_the_query_path_loads_only_what_it_needs(tmp_path):
    """The empty views are said in SQL (DuckDB imports pandas for any registered Arrow
    table); their types are those DuckDB reads from a stored file. The query command loads
    neither pandas nor pydantic nor Dagster: it answers in a fraction of the time."""
    import duckdb

    con = connect(tmp_path)
    for name, (_, schema) in VIEWS.items():
        seen = duckdb.connect()
        seen.register("stored", schema.empty_table())
        expected = seen.execute("describe stored").fetchall()
        assert con.execute(f"describe {name}").fetchall() == expected, name
    probe = (
        "import sys; from vipps_pipeline.cli.main import main; "
        f"main(['query', 'select 1', '--data-dir', {str(tmp_path)!r}]); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pandas', 'pydantic', 'dagster', 'matplotlib', 'requests'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]", done.stdout


def test_metadata_amounts_are_exact_decimals_with_the_currency_digits():
    """What the UI shows beside each amount in minor units: integer arithmetic, so even an
    amount past a float's 2**53 keeps its last digit."""
    from vipps_pipeline.defs.recording.metadata import money

    assert money(-225011401, "NOK") == "-2250114.01 NOK"
    assert money(2**62 + 1, "NOK") == "46116860184273879.05 NOK"
    assert (money(1234, "JPY"), money(-5, "KWD"), money(None, "NOK")) == (
        "1234 JPY",
        "-0.005 KWD",
        None,
    )


def test_many_ledgers_are_drawn_in_worker_processes_alike(data, monkeypatch):
    """A partner's report draws its charts in one process per core: the same pictures."""
    _, alone = report.write_report(data)
    monkeypatch.setattr(report, "PARALLEL_FROM", 2)
    monkeypatch.setattr(report, "usable_cores", lambda: 2)
    _, shared = report.write_report(data)
    assert [p.ledger_id for p in shared] == [p.ledger_id for p in alone]
    assert [p.pngs for p in shared] == [p.pngs for p in alone]
    assert [(p.failed_days, p.paid_out) for p in shared] == [
        (p.failed_days, p.paid_out) for p in alone
    ]
