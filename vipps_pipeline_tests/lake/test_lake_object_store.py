"""The tables on S3 (a local moto server on loopback, never the internet): written with the
pipeline's own storage options, queried in place, and committed to by two writers at once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from vipps_pipeline.lake import commit
from vipps_pipeline.lake.tables import open_table, table_rows
from vipps_pipeline.outputs.query import QUESTIONS, connect
from vipps_pipeline.simulator import World
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.objstore import as_dir, read_table
from vipps_pipeline.store.paths import report_path
from vipps_pipeline.sync.tables import catch_up_stored
from vipps_pipeline_tests.support.books import store
from vipps_pipeline_tests.support.clock import days
from vipps_pipeline_tests.support.lake import rows
from vipps_pipeline_tests.support.s3 import fresh_bucket, moto_endpoint

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

REPO = Path(__file__).resolve().parents[2]
OCTOBER = days(date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


@pytest.fixture
def s3_data(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    return fresh_bucket(s3_endpoint, monkeypatch)


@pytest.mark.objstore
def test_query_answers_in_place_on_s3_as_it_does_locally(s3_data, tmp_path):
    world = World(seed=0)
    for root in (tmp_path, as_dir(s3_data)):
        for ledger_id in ("100001", "100003"):
            store(world, root, ledger_id, OCTOBER)
        assert set(catch_up_stored(root)) == {"100001", "100003"}
    assert not catch_up_stored(as_dir(s3_data)), "committed once: nothing due the second time"
    assert rows(table_rows(s3_data, "entries")) == rows(table_rows(tmp_path, "entries"))
    for name, sql in QUESTIONS.items():
        local = connect(tmp_path).execute(sql).fetchall()
        assert connect(s3_data).execute(sql).fetchall() == local, name
    first = connect(s3_data, as_of=0).execute("select count(*) from entries").fetchone()
    assert 0 < first[0] < table_rows(s3_data, "entries").num_rows  # version 0: one commit


@pytest.mark.objstore
def test_a_large_commit_on_s3_lands_and_replaces_as_it_does_locally(s3_data, tmp_path, monkeypatch):
    """A commit above ``STREAM_ROWS`` writes its file with pyarrow into the bucket and adds it
    in one transaction; a re-fetched day then rewrites the file it shared with other days."""
    monkeypatch.setattr(commit, "STREAM_ROWS", 10)
    world = World(seed=0)
    for root in (tmp_path, as_dir(s3_data)):
        store(world, root, "100001", OCTOBER)
        assert set(catch_up_stored(root)) == {"100001"}
    assert rows(table_rows(s3_data, "entries")) == rows(table_rows(tmp_path, "entries"))
    one = report_path(as_dir(s3_data), "funds", "100001", date(2026, 10, 5))
    write_table(one, read_table(one))  # re-fetched: replaced, never doubled
    assert catch_up_stored(as_dir(s3_data)) == {"100001": {"entries": 1}}
    assert rows(table_rows(s3_data, "entries")) == rows(table_rows(tmp_path, "entries"))
    assert len(open_table(s3_data, "entries").file_uris()) == 2


COMMITTER = """
import json, sys
from vipps_pipeline.lake import commit
from vipps_pipeline.store.atomic import write_table
from vipps_pipeline.store.objstore import as_dir, read_table
from vipps_pipeline.store.paths import report_path
from vipps_pipeline.sync import completeness
commit.COMMIT_DAYS = 1
data = as_dir(sys.argv[1])
files = completeness.scan(data, sys.argv[2]).files
print(json.dumps(commit.commit_ledger(data, sys.argv[2], files)))
"""


@pytest.mark.objstore
def test_two_writers_commit_to_one_table_on_s3_without_losing_a_commit(s3_data):
    world = World(seed=0)
    ledgers = ("100001", "100002")
    for ledger_id in ledgers:
        store(world, as_dir(s3_data), ledger_id, OCTOBER[:10])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COMMITTER, s3_data, ledger_id],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for ledger_id in ledgers
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    entries = table_rows(s3_data, "entries")
    days_with_rows = {
        (r["ledger_id"], r["ledger_date"])
        for r in entries.select(["ledger_id", "ledger_date"]).to_pylist()
    }
    assert len(days_with_rows) == len(ledgers) * 10
    history = open_table(s3_data, "entries").history()
    assert sum(h["operation"] == "WRITE" for h in history) == len(days_with_rows)
