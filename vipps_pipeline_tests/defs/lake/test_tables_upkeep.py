"""The nightly upkeep in Dagster: the schedule runs by default and its job compacts."""

from __future__ import annotations

from datetime import date

import dagster as dg

from vipps_pipeline.definitions import defs
from vipps_pipeline.defs.lake.schedules import tables_upkeep_schedule
from vipps_pipeline.defs.resources import PipelineResource
from vipps_pipeline.lake import commit as lake
from vipps_pipeline.lake.tables import open_table
from vipps_pipeline.simulator import World
from vipps_pipeline.sync import completeness
from vipps_pipeline_tests.support.books import store
from vipps_pipeline_tests.support.clock import days
from vipps_pipeline_tests.support.lake import assert_tables_equal_landing


def test_the_upkeep_schedule_runs_by_default_and_its_job_compacts(tmp_path, monkeypatch):
    assert defs.resolve_schedule_def("tables_upkeep_schedule") is not None
    assert tables_upkeep_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert tables_upkeep_schedule.job_name == "tables_upkeep"

    store(World(seed=0), tmp_path, "100001", days(date(2026, 10, 1), date(2026, 10, 12)))
    monkeypatch.setattr(lake, "COMMIT_DAYS", 2)  # six commits: six files
    lake.commit_ledger(tmp_path, "100001", completeness.scan(tmp_path, "100001").files)
    assert len(open_table(tmp_path, "entries").file_uris()) == 6

    job = defs.resolve_job_def("tables_upkeep")
    result = job.execute_in_process(
        resources={"pipeline": PipelineResource(data_dir=str(tmp_path))}
    )
    assert result.success
    assert len(open_table(tmp_path, "entries").file_uris()) == 1
    assert_tables_equal_landing(tmp_path)
