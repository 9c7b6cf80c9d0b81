"""The data directory on S3: a real S3-compatible server (moto's server mode) on loopback.

Never the internet: the endpoint is always the local server, credentials are dummies and the
instance-metadata lookup is disabled.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from vipps_pipeline.api.errors import BadReport
from vipps_pipeline.books import derive as books
from vipps_pipeline.definitions import build_defs
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.outputs.html_report import write_report
from vipps_pipeline.settings import PipelineSettings, SettingsError
from vipps_pipeline.store import objstore
from vipps_pipeline.store.atomic import write_batches
from vipps_pipeline.store.paths import DAY_KINDS, ledgers_path
from vipps_pipeline.store.schemas import REPORT_SCHEMA
from vipps_pipeline.sync import completeness
from vipps_pipeline_tests.support.clock import LEDGER_IDS, NOW
from vipps_pipeline_tests.support.dagster import api_resource
from vipps_pipeline_tests.support.entries import DAY, ENTRY, parse
from vipps_pipeline_tests.support.s3 import moto_endpoint

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

START = "2026-11-08"
LEDGERS = ["100001", "100004", "100007"]
"""A daily ledger, the monthly one (open all November) and the weekly one (open since Nov 23)."""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


@pytest.fixture
def bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; every AWS setting points at the local server (never the internet)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    name = f"vipps-{uuid.uuid4().hex[:12]}"
    store().mkdir(name)
    return name


def store() -> s3fs.S3FileSystem:
    """A client of our own to look at the bucket, apart from the pipeline's."""
    return s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)


def make_defs(sim, data_dir: str, **pipeline: str) -> dg.Definitions:
    settings = {"data_dir": data_dir, "start_date": START, "now": NOW.isoformat(), **pipeline}
    return build_defs({"api": api_resource(sim), "pipeline": PipelineResource(**settings)})


def sync(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("vipps_sync").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"sync_ledgers": {"config": {"ledgers": LEDGERS}}}},
    )


def local_files(root: Path) -> dict[str, bytes]:
    """The landing files (the tables' data files carry random names: their rows are compared
    in vipps_pipeline_tests/lake)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.relative_to(root).parts[0] != "tables"
    }


def stored_objects(prefix: str) -> dict[str, bytes]:
    fs = store()
    keys = [k for k in fs.find(prefix) if not k[len(prefix) + 1 :].startswith("tables/")]
    return {k[len(prefix) + 1 :]: fs.cat_file(k) for k in keys}


def same_content(name: str, a: bytes, b: bytes) -> bool:
    """Parquet files are compared as tables (equal data), everything else byte for byte, but
    for the wall-clock times of not-ready probes in the ledger state."""
    if name.startswith("state/"):
        return _without_times(json.loads(a)) == _without_times(json.loads(b))
    if not name.endswith(".parquet"):
        return a == b
    return pq.read_table(io.BytesIO(a)).equals(pq.read_table(io.BytesIO(b)), check_metadata=True)


@pytest.mark.objstore
def test_a_sync_to_s3_stores_what_a_local_sync_stores_and_a_second_fetches_nothing(
    sim, bucket, endpoint, tmp_path, monkeypatch
):
    local = tmp_path / "local"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("ledgers", LEDGER_IDS)
        assert sync(make_defs(sim, str(local)), instance).success
    pages_local = sim.counters["report_pages"]

    url = f"s3://{bucket}/vipps/data"
    # the endpoint through VIPPS_STORAGE_OPTIONS as well: the pipeline's own options reach s3fs
    options = json.dumps({"endpoint_url": endpoint})
    defs = make_defs(sim, url, storage_options=options)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("ledgers", LEDGER_IDS)
        before = sim.counters["report_pages"]
        result = sync(defs, instance)
        assert result.success
        assert sim.counters["report_pages"] - before == pages_local

        want, got = local_files(local), stored_objects(f"{bucket}/vipps/data")
        assert sorted(got) == sorted(want)
        assert sum(k.startswith("reconciliation/") for k in got) == 16 + 15
        differ = [k for k in want if not same_content(k, want[k], got[k])]
        assert not differ, differ[:5]
        assert books.read_findings(url).equals(books.read_findings(local))
        for event in result.all_events:  # materialization metadata names the object, no secret
            if event.event_type_value == "ASSET_MATERIALIZATION":
                meta = event.event_specific_data.materialization.metadata
                if "path" in meta:
                    assert str(meta["path"].value).startswith(url + "/")
                assert "testing" not in json.dumps({k: str(v) for k, v in meta.items()})

        # the ledger list (read back and merged on the second refresh) and the HTML report
        for _ in range(2):
            refresh = defs.resolve_job_def("refresh_ledgers")
            assert refresh.execute_in_process(instance=instance, raise_on_error=False).success
        ledgers = objstore.read_table(ledgers_path(objstore.as_dir(url)))
        assert sorted(ledgers.column("ledger_id").to_pylist()) == LEDGER_IDS
        index, pictures = write_report(url)
        assert index.exists() and {p.ledger_id for p in pictures} == {"100001", "100007"}

        # the second sync: the inventory on S3 says everything closed is final
        settings = PipelineSettings.from_env(
            {"VIPPS_DATA_DIR": url, "VIPPS_STORAGE_OPTIONS": options, "VIPPS_START_DATE": START}
        )
        inv = completeness.scan(settings.data_dir, "100001")
        assert completeness.final_through(inv.dates("reports/funds"), inv_start()) is not None
        assert completeness.stale_days(inv, settings.fee_window_days) == ([], [])
        times = listing(f"{bucket}/vipps/data")
        calls = count_calls(monkeypatch)
        before = sim.counters["report_pages"]
        assert sync(defs, instance).success
        # only the two open ledger-topics are polled (monthly 100004, weekly 100007)
        assert sim.counters["report_pages"] - before == 4
        after = listing(f"{bucket}/vipps/data")
        day_files = [k for k in times if k.startswith(DAY_KINDS)]
        assert day_files and all(after[k] == times[k] for k in day_files), "nothing rewritten"
        # listings, not one request per file: a few per ledger and kind however many days
        # (the freshness check scans every registered ledger, not only the synced ones)
        assert 0 < calls["list"] <= len(LEDGER_IDS) * len(DAY_KINDS) * 3
        assert calls["list"] < len(day_files) / 2, (calls, len(day_files))


def _without_times(state: dict) -> dict:
    for probe in state.get("probes", {}).values():
        probe.pop("first_seen", None)
        probe.pop("last_seen", None)
    return state


def inv_start():
    from datetime import date

    return date.fromisoformat(START)


def listing(prefix: str) -> dict[str, str]:
    found = store().find(prefix, detail=True)
    return {k[len(prefix) + 1 :]: (v["ETag"], v["LastModified"]) for k, v in found.items()}


def count_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"list": 0}
    real = objstore.list_files

    def counted(root):
        calls["list"] += 1
        return real(root)

    monkeypatch.setattr(objstore, "list_files", counted)
    return calls


@pytest.mark.objstore
def test_a_write_that_fails_midway_leaves_no_object_and_keeps_the_old_one(bucket):
    data_dir = objstore.parse_data_dir(f"s3://{bucket}/data")
    path = data_dir / "reports" / "funds" / "302321" / "2020" / "2020-10-05.parquet"
    fs = store()

    def broken():
        yield parse([ENTRY])
        raise BadReport("302321", "funds", DAY, "boom")

    with pytest.raises(BadReport):
        write_batches(path, REPORT_SCHEMA, broken())
    assert fs.find(f"{bucket}/data") == [], "no object at the final key, nor any temporary"

    write_batches(path, REPORT_SCHEMA, [parse([ENTRY]), parse([ENTRY])])
    before = fs.cat_file(path.path)
    assert objstore.read_table(path).num_rows == 2
    with pytest.raises(BadReport):
        write_batches(path, REPORT_SCHEMA, broken())
    assert fs.cat_file(path.path) == before, "the previous object is intact"
    assert fs.find(f"{bucket}/data") == [path.path], "nothing else was uploaded"
    staging = objstore.local_mirror(path, "staging").parent
    assert not [p for p in staging.iterdir() if p.name.endswith(".tmp")], "staging cleaned up"


@pytest.mark.objstore
def test_a_missing_object_reads_as_missing(bucket):
    data_dir = objstore.parse_data_dir(f"s3://{bucket}/data")
    with pytest.raises(FileNotFoundError):
        objstore.read_table(data_dir / "nothing.parquet")
    assert completeness.scan(data_dir, "100001").files == {k: {} for k in DAY_KINDS}
    assert books.read_findings(data_dir).empty


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("foo://bucket/data", "VIPPS_DATA_DIR has scheme 'foo', which no fsspec backend knows"),
        ("gs://bucket/data", "VIPPS_DATA_DIR is a gs:// URL but its fsspec backend is not"),
        ("s3://key:secret@bucket/data", "VIPPS_DATA_DIR must not contain credentials"),
        ("s3:///data", "VIPPS_DATA_DIR must name a bucket"),
    ],
)
def test_a_bad_data_dir_url_is_a_clear_error(raw, message):
    if raw.startswith("gs://"):
        try:
            import gcsfs  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("gcsfs is installed here")
    with pytest.raises(SettingsError) as caught:
        PipelineSettings.from_env({"VIPPS_DATA_DIR": raw})
    assert str(caught.value).startswith(message)
    assert "secret" not in str(caught.value)


def test_storage_options_must_be_a_json_object():
    with pytest.raises(SettingsError, match="VIPPS_STORAGE_OPTIONS must be a JSON object"):
        PipelineSettings.from_env({"VIPPS_DATA_DIR": "s3://b/d", "VIPPS_STORAGE_OPTIONS": "[1]"})


def test_a_local_data_dir_stays_a_plain_path(tmp_path):
    settings = PipelineSettings.from_env({"VIPPS_DATA_DIR": str(tmp_path)})
    assert type(settings.data_dir) is type(tmp_path)
    assert PipelineSettings.from_env({"VIPPS_DATA_DIR": f"file://{tmp_path}"}).data_dir == tmp_path


@pytest.mark.objstore
def test_query_over_an_object_store_reads_the_tables_in_place(bucket):
    """(The answers compared with a local data directory's: vipps_pipeline_tests/lake.)"""
    from vipps_pipeline.outputs.query import connect

    con = connect(f"s3://{bucket}/data")  # nothing stored yet: empty views, no error
    assert con.execute("select count(*) from entries").fetchone() == (0,)
