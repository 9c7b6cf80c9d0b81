"""Issue 19 row 1: run config cannot redirect secrets or writes.

Whoever can launch a run (UI, GraphQL) writes its run config; these tests prove that the
settings deciding where credentials go and where files land are not in the config schema, that
a run naming them is refused before it starts, and that the knobs a run may set are bounded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from vipps_pipeline.definitions import build_defs
from vipps_pipeline.defs.ledger_days.assets import ledger_day_assets
from vipps_pipeline.defs.partitions import ledger_day_partitions
from vipps_pipeline.defs.resources import PipelineResource, ReportApiResource, variable_for
from vipps_pipeline.settings import ApiSettings, PipelineSettings
from vipps_pipeline_tests.support.browser import free_port, stop_group, wait_until
from vipps_pipeline_tests.support.dagster import make_defs

API_DEPLOYMENT = {
    "base_url",
    "key_type",
    "client_id",
    "client_secret",
    "subscription_key",
    "merchant_serial_number",
    "include_gdpr",
}
PIPELINE_DEPLOYMENT = {"data_dir", "storage_options", "journal_accounts", "now"}
API_KNOBS = {"http_timeout_seconds", "http_retries", "max_pages"}
PIPELINE_KNOBS = {"stale_days", "max_consecutive_errors", "fee_window_days"}


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 to anything and remembers it: the attacker's server."""

    def _any(self) -> None:
        self.server.seen.append((self.command, self.path, dict(self.headers)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PUT = _any

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def listener() -> Iterator[tuple[str, list]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def hostile_config(url: str, elsewhere: Path) -> dict:
    return {
        "resources": {
            "api": {"config": {"base_url": url, "client_secret": "attacker-chosen"}},
            "pipeline": {"config": {"data_dir": str(elsewhere)}},
        },
        "ops": {"sync_ledgers": {"config": {"ledgers": ["100001"]}}},
    }


def config_fields(job: dg.JobDefinition, resource: str) -> set[str]:
    resources = job.run_config_schema.config_type.fields["resources"].config_type
    return set(resources.fields[resource].config_type.fields["config"].config_type.fields)


def test_run_config_schema_holds_only_bounded_knobs():
    """Every job of the code location, as deployed: no field that routes secrets or writes."""
    defs = build_defs(
        {"api": ReportApiResource.from_env(), "pipeline": PipelineResource.from_env()}
    )
    jobs = list(defs.resolve_all_job_defs())
    assert len(jobs) >= 5
    for job in jobs:
        keys = set(job.run_config_schema.config_type.fields["resources"].config_type.fields)
        if "api" in keys:
            assert config_fields(job, "api") == API_KNOBS, job.name
        if "pipeline" in keys:
            assert config_fields(job, "pipeline") == PIPELINE_KNOBS, job.name
    assert set(ReportApiResource.deployment_only()) >= {variable_for(n) for n in API_DEPLOYMENT}
    assert set(PipelineResource.deployment_only()) >= {variable_for(n) for n in PIPELINE_DEPLOYMENT}
    assert set(ApiSettings.run_knobs()) == API_KNOBS, "the declarations mark the same knobs"
    assert set(PipelineSettings.run_knobs()) == PIPELINE_KNOBS


class _Reads(dict):
    """Remembers every variable a settings parser asks for."""

    def __init__(self, base: dict[str, str]) -> None:
        super().__init__(base)
        self.asked: set[str] = set()

    def get(self, key, default=None):  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)


def test_every_setting_the_parsers_read_reaches_them_from_the_resources(sim):
    """A setting the resources do not hand over would silently take its default; each one is
    either a deployment setting or a knob, never both."""
    for resource, parse in ((ReportApiResource, ApiSettings), (PipelineResource, PipelineSettings)):
        reads = _Reads(sim.env("merchant"))
        parse.from_env(reads)
        handed = set(resource().as_env())
        assert reads.asked <= handed, sorted(reads.asked - handed)
        assert not set(resource.deployment_only()) & {variable_for(k) for k in resource.run_knobs()}


def test_deployment_values_come_from_code_or_the_steps_environment(monkeypatch):
    """In code wins (how tests and custom deployments build resources), then the environment
    of the step; a ``dg.EnvVar`` in code is read when used; the repr never shows a value."""
    monkeypatch.setenv("VIPPS_CLIENT_SECRET", "from-env-secret")
    monkeypatch.setenv("MY_SUBSCRIPTION_KEY", "renamed-key")
    api = ReportApiResource(
        base_url="http://127.0.0.1:9", subscription_key=dg.EnvVar("MY_SUBSCRIPTION_KEY")
    )
    env = api.as_env()
    assert env["VIPPS_BASE_URL"] == "http://127.0.0.1:9"
    assert env["VIPPS_CLIENT_SECRET"] == "from-env-secret"
    assert env["VIPPS_SUBSCRIPTION_KEY"] == "renamed-key"
    shown = repr(api) + str(api) + repr(api.model_dump())
    assert "from-env-secret" not in shown and "renamed-key" not in shown
    assert "127.0.0.1:9" not in shown  # names only, even for what is not secret


def test_the_ui_never_sees_a_deployment_value():
    """The repository snapshot the webserver shows (resource pages, launchpad defaults) holds
    the knobs, and nothing of the deployment even when its values are given in code."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    api = ReportApiResource(
        base_url="http://MARKER-URL", client_secret="MARKER-SECRET", max_pages="77"
    )
    defs = build_defs({"api": api, "pipeline": PipelineResource(data_dir="/MARKER-DIR")})
    text = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "MARKER" not in text
    assert '"name": "max_pages"' in text


def test_hostile_run_config_is_refused_before_the_run_starts(sim, tmp_path):
    """Values given in code (how the deployment builds resources) still reach the step, but
    the same names in run config fail validation with a message naming field and path."""
    defs = make_defs(sim, tmp_path / "data")
    job = defs.resolve_job_def("vipps_sync")
    elsewhere = tmp_path / "elsewhere"
    with listener() as (url, seen), dg.instance_for_test() as instance:
        config = hostile_config(url, elsewhere)
        with pytest.raises(dg.DagsterInvalidConfigError) as info:
            dg.validate_run_config(job, config)
        message = str(info.value)
        api_path, pipeline_path = "root:resources:api:config", "root:resources:pipeline:config"
        assert f"""entries "['base_url', 'client_secret']" at path {api_path}""" in message
        assert f'entry "data_dir" at path {pipeline_path}' in message
        assert "attacker-chosen" not in message
        with pytest.raises(dg.DagsterInvalidConfigError):
            job.execute_in_process(run_config=config, instance=instance)
        assert instance.get_runs() == []
        # a knob alone is accepted
        knob = {"resources": {"api": {"config": {"max_pages": 50}}}}
        dg.validate_run_config(job, {**knob, "ops": config["ops"]})
    assert seen == [] and len(sim.requests_log) == 0
    assert not elsewhere.exists()


def test_run_knob_out_of_bounds_fails_the_step_in_one_line(sim, tmp_path):
    """A knob set in run config is parsed with its bounds: the step fails with one line naming
    the variable, before any request and without a retry."""
    defs = make_defs(sim, tmp_path / "data")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("ledgers", ["100001"])
        result = dg.materialize(
            [ledger_day_assets],
            selection=["funds_report"],
            partition_key=ledger_day_partitions.get_partition_key_from_str("2026-11-10|100001"),
            instance=instance,
            resources=defs.resources,
            run_config={"resources": {"api": {"config": {"max_pages": 0}}}},
            raise_on_error=False,
        )
    failures = result.get_step_failure_events()
    assert len(failures) == 1
    message = failures[0].event_specific_data.error.message.strip()
    assert "VIPPS_MAX_PAGES" in message and "\n" not in message
    assert len(sim.requests_log) == 0


def test_a_knob_cannot_read_a_secret_from_the_environment(sim, tmp_path, monkeypatch):
    """Dagster lets run config write ``{env: NAME}`` for any field. The knobs are whole
    numbers, so a secret named there is refused by config processing without being shown,
    and no run is created."""
    monkeypatch.setenv("VIPPS_CLIENT_SECRET", "CLIENT-SECRET-d00d")
    job = make_defs(sim, tmp_path / "data").resolve_job_def("vipps_sync")
    config = {
        "resources": {"api": {"config": {"max_pages": {"env": "VIPPS_CLIENT_SECRET"}}}},
        "ops": {"sync_ledgers": {"config": {"ledgers": ["100001"]}}},
    }
    with dg.instance_for_test() as instance:
        with pytest.raises(dg.DagsterInvalidConfigError) as info:
            job.execute_in_process(run_config=config, instance=instance)
        assert instance.get_runs() == []
    assert "VIPPS_CLIENT_SECRET" in str(info.value) and "d00d" not in str(info.value)
    assert len(sim.requests_log) == 0


@pytest.mark.parametrize(
    ("resource", "knob", "value", "named"),
    [
        (ReportApiResource, "http_timeout_seconds", "100000", "VIPPS_HTTP_TIMEOUT_SECONDS"),
        (ReportApiResource, "http_retries", "-1", "VIPPS_HTTP_RETRIES"),
        (PipelineResource, "max_consecutive_errors", "101", "VIPPS_MAX_CONSECUTIVE_ERRORS"),
        (PipelineResource, "stale_days", "0", "VIPPS_STALE_DAYS"),
        (PipelineResource, "fee_window_days", "32", "VIPPS_FEE_WINDOW_DAYS"),
    ],
)
def test_every_run_knob_is_bounded(sim, resource, knob, value, named):
    fixed = {k[6:].lower(): v for k, v in sim.env("merchant").items()}
    fixed = {k: v for k, v in fixed.items() if variable_for(k) in resource.deployment_only()}
    with pytest.raises(dg.Failure) as info:
        resource(**fixed, **{knob: value}).settings()
    assert named in str(info.value.description)
    assert "\n" not in str(info.value.description)


# --- through a real webserver and GraphQL --------------------------------------------------------
@contextmanager
def webserver(home: Path, env: dict[str, str]) -> Iterator[str]:
    """``dagster-webserver`` over the project's own code location, on loopback."""
    port = free_port()
    log = home / "webserver.log"
    cmd = [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port)]
    cmd += ["-m", "vipps_pipeline.definitions"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        import urllib.request

        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until("dagster-webserver", answers, timeout=90, every=0.5)
        yield url
    finally:
        stop_group(proc)


RUNS = "{ runsOrError { __typename ... on Runs { results { runId } } } }"
VALID = """query($selector: PipelineSelector!, $runConfigData: RunConfigData) {
  isPipelineConfigValid(pipeline: $selector, mode: "default", runConfigData: $runConfigData) {
    __typename
  }
}"""


def test_graphql_launch_mutation_refuses_hostile_config_in_process(monkeypatch, tmp_path):
    """The same ``launchPipelineExecution`` resolver the webserver runs, over this code location
    loaded in-process: a few seconds (the temporary instance and the workspace load), against
    about 30 s to start a real webserver on a busy machine, which the slow test below does."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster_graphql.client.client_queries import CLIENT_SUBMIT_PIPELINE_RUN_MUTATION
    from dagster_graphql.test.utils import execute_dagster_graphql, infer_job_selector

    elsewhere, data = tmp_path / "elsewhere", tmp_path / "data"
    with listener() as (legit, legit_seen), listener() as (evil, evil_seen):
        for name, value in {
            "VIPPS_BASE_URL": legit,
            "VIPPS_CLIENT_ID": "deployed-client",
            "VIPPS_CLIENT_SECRET": "deployed-secret",
            "VIPPS_SUBSCRIPTION_KEY": "deployed-key",
            "VIPPS_DATA_DIR": str(data),
        }.items():
            monkeypatch.setenv(name, value)
        origin = InProcessCodeLocationOrigin(
            LoadableTargetOrigin(module_name="vipps_pipeline.definitions"), location_name="vipps"
        )
        with (
            dg.instance_for_test() as instance,
            WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget([origin])) as process,
        ):
            context = process.create_request_context()
            selector = infer_job_selector(context, "vipps_sync")
            answer = execute_dagster_graphql(
                context,
                CLIENT_SUBMIT_PIPELINE_RUN_MUTATION,
                {
                    "executionParams": {
                        "selector": selector,
                        "runConfigData": hostile_config(evil, elsewhere),
                    }
                },
            ).data["launchPipelineExecution"]
            assert answer["__typename"] == "RunConfigValidationInvalid"
            messages = " ".join(e["message"] for e in answer["errors"])
            assert "base_url" in messages and "data_dir" in messages
            assert "attacker-chosen" not in messages
            assert instance.get_runs() == []
    assert evil_seen == [] and legit_seen == []
    assert not elsewhere.exists() and not data.exists()


@pytest.mark.slow
def test_graphql_launch_with_hostile_config_is_refused(tmp_path):
    """The attack of issue 19 as written: launch through GraphQL with run config pointing the
    API at our listener and the data at another folder. Refused; nothing sent, nothing written,
    no run recorded; a knob-only config for the same job is valid (the path itself works)."""
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    home, data, elsewhere = tmp_path / "home", tmp_path / "data", tmp_path / "elsewhere"
    home.mkdir()
    with listener() as (legit, legit_seen), listener() as (evil, evil_seen):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIPPS_", "DAGSTER_"))}
        env |= {
            "DAGSTER_HOME": str(home),
            "VIPPS_BASE_URL": legit,
            "VIPPS_CLIENT_ID": "deployed-client",
            "VIPPS_CLIENT_SECRET": "deployed-secret",
            "VIPPS_SUBSCRIPTION_KEY": "deployed-key",
            "VIPPS_DATA_DIR": str(data),
            "VIPPS_MAX_PAGES": "100",
        }
        started = time.monotonic()
        with webserver(home, env) as url:
            print(f"dagster-webserver answered after {time.monotonic() - started:.1f}s")
            client = DagsterGraphQLClient("127.0.0.1", port_number=int(url.rsplit(":", 1)[1]))
            for config in (
                hostile_config(evil, elsewhere),
                {"resources": {"api": {"config": {"base_url": evil}}}},
                {"resources": {"pipeline": {"config": {"data_dir": str(elsewhere)}}}},
            ):
                with pytest.raises(DagsterGraphQLClientError) as info:
                    client.submit_job_execution("vipps_sync", run_config=config)
                assert "RunConfigValidationInvalid" in str(info.value)
                errors = info.value.args[1]
                assert errors and all(
                    e["reason"] in {"FIELD_NOT_DEFINED", "FIELDS_NOT_DEFINED"} for e in errors
                )
                assert all("unexpected config entr" in e["message"] for e in errors)
            selector = {
                "repositoryLocationName": "vipps_pipeline.definitions",
                "repositoryName": "__repository__",
                "pipelineName": "vipps_sync",
            }
            knob = {"resources": {"api": {"config": {"max_pages": 50}}}}
            valid = client._execute(VALID, {"selector": selector, "runConfigData": knob})
            assert valid["isPipelineConfigValid"]["__typename"] == "PipelineConfigValidationValid"
            hostile = client._execute(
                VALID, {"selector": selector, "runConfigData": hostile_config(evil, elsewhere)}
            )
            assert hostile["isPipelineConfigValid"]["__typename"] == ("RunConfigValidationInvalid")
            runs = client._execute(RUNS)["runsOrError"]
            assert runs == {"__typename": "Runs", "results": []}
    assert evil_seen == [] and legit_seen == []
    assert not elsewhere.exists() and not data.exists()
