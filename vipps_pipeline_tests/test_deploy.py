"""The container recipe, read as files: no Docker is needed (test_postgres.py runs the instance).

What can go wrong silently in a compose file is a secret written into it or a process without
the database, so those are what is checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SECRETS = (
    "DAGSTER_PG_URL",
    "VIPPS_CLIENT_ID",
    "VIPPS_CLIENT_SECRET",
    "VIPPS_SUBSCRIPTION_KEY",
    "POSTGRES_PASSWORD",
)


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


def test_compose_has_the_four_processes_and_each_dagster_one_reaches_the_database():
    services = compose()["services"]
    assert set(services) == {"postgres", "code_location", "webserver", "daemon"}
    for name in ("code_location", "webserver", "daemon"):
        assert "DAGSTER_PG_URL" in services[name]["environment"], name
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert "code-server" in (DEPLOY / "Dockerfile").read_text()


def test_only_the_code_location_gets_the_api_credentials():
    services = compose()["services"]
    for name, service in services.items():
        has = any(k.startswith("VIPPS_CLIENT") for k in service.get("environment", {}))
        assert has == (name == "code_location"), name


def test_every_secret_is_taken_from_the_environment_never_written_down():
    services = compose()["services"]
    for name, service in services.items():
        for var, value in service.get("environment", {}).items():
            if var in SECRETS:
                assert re.search(r"\$\{[A-Z_]+:[?-]", str(value)), f"{name}.{var} = {value!r}"
        url = service.get("environment", {}).get("DAGSTER_PG_URL", "")
        assert not url or ":${DAGSTER_PG_PASSWORD:?" in url, url
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert not any(s in dockerfile for s in SECRETS), "no secret is set in the image"
    assert "COPY . " not in dockerfile, "the working tree (.env, data) is never copied"


def test_the_image_carries_the_tested_instance_yaml():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in dockerfile
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    [server] = workspace["load_from"]
    assert server["grpc_server"]["host"] == "code_location"
    assert server["grpc_server"]["location_name"] == "vipps_pipeline"


def test_the_docs_state_the_limits_the_yaml_sets():
    """docs/operations.md explains each limit; a changed number must change it too."""
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    readme = (DEPLOY.parent / "docs" / "operations.md").read_text()
    pools, runs = config["concurrency"]["pools"], config["concurrency"]["runs"]
    rows = {
        "concurrency.pools.default_limit": pools["default_limit"],
        "concurrency.pools.granularity": pools["granularity"],
        "concurrency.pools.op_granularity_run_buffer": pools["op_granularity_run_buffer"],
        "concurrency.runs.max_concurrent_runs": runs["max_concurrent_runs"],
    }
    for setting, value in rows.items():
        assert f"| `{setting}` | `{value}` |" in readme, setting
    [limit] = runs["tag_concurrency_limits"]
    assert f"| `{limit['key']}`, limit {limit['limit']} |" in readme
    assert f"caps it at {pools['default_limit']}" in readme
