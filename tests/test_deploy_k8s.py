"""deploy/k8s: the Helm values, Secrets and image recipe of the Kubernetes guide load and validate.

No cluster or Helm chart is reachable here, so each file is checked by the library that reads
it in production: the Secrets and pod settings by the Kubernetes client's models (strict keys,
through dagster-k8s), the Dagster instance the chart renders from values.yaml by Dagster's own
instance and K8sRunLauncher schemas, and then loaded as a real DagsterInstance whose run
launcher is the K8sRunLauncher.
"""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import kubernetes
import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import UserDefinedDagsterK8sConfig
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from dagster_postgres import PostgresRunStorage

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
NAMESPACE = "invest-assets"
# The environment the chart gives the webserver, daemon and run pods.
CHART_ENV = {
    "DAGSTER_HOME": "/opt/dagster/dagster_home",
    "DAGSTER_PG_PASSWORD": "secret",
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "invest-assets-dagster-instance",
    "DAGSTER_K8S_PG_PASSWORD_SECRET": "dagster-postgresql-secret",
    "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP": "invest-assets-dagster-pipeline-env",
}


def load(name: str) -> list[dict]:
    return list(yaml.safe_load_all((K8S / name).read_text()))


@pytest.fixture(scope="module")
def values() -> dict:
    (document,) = load("values.yaml")
    return document


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def snake_keys(mapping: dict) -> dict:
    return {snake(key): value for key, value in mapping.items()}


def chart_instance(values: dict) -> dict:
    """The dagster.yaml the chart's instance ConfigMap template renders for the keys values.yaml
    sets (storage, run launcher, run queue, pools, monitoring, retries, telemetry)."""
    postgres = values["postgresql"]
    storage = {
        "postgres_db": {
            "hostname": postgres["postgresqlHost"],
            "username": postgres["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "db_name": postgres["postgresqlDatabase"],
            "port": postgres["service"]["port"],
            "params": postgres["postgresqlParams"],
        }
    }
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    daemon = values["dagsterDaemon"]
    concurrency = values["concurrency"]
    return {
        **{
            kind: {"module": f"dagster_postgres.{module}", "class": cls, "config": storage}
            for kind, module, cls in [
                ("run_storage", "run_storage", "PostgresRunStorage"),
                ("event_log_storage", "event_log", "PostgresEventLogStorage"),
                ("schedule_storage", "schedule_storage", "PostgresScheduleStorage"),
            ]
        },
        "run_launcher": {
            "module": "dagster_k8s",
            "class": "K8sRunLauncher",
            "config": {
                "load_incluster_config": launcher["loadInclusterConfig"],
                "job_namespace": NAMESPACE,
                "image_pull_policy": launcher["imagePullPolicy"],
                "service_account_name": NAMESPACE,
                "dagster_home": {"env": "DAGSTER_HOME"},
                "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
                "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
                "env_config_maps": [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"}],
                "env_secrets": [secret["name"] for secret in launcher["envSecrets"]],
                "run_k8s_config": snake_keys(launcher["runK8sConfig"]),
            },
        },
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": daemon["runCoordinator"]["type"],
            "config": {},
        },
        "concurrency": {"pools": snake_keys(concurrency["pools"]), "runs": snake_keys(concurrency["runs"])},
        "run_monitoring": snake_keys(daemon["runMonitoring"]),
        "run_retries": snake_keys(daemon["runRetries"]),
        "telemetry": values["telemetry"],
    }


def test_the_instance_the_chart_renders_passes_dagsters_schemas(values, tmp_path, monkeypatch):
    for name, value in CHART_ENV.items():
        monkeypatch.setenv(name, value)
    instance = chart_instance(values)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance))
    validated, _ = dagster_instance_config(str(tmp_path))
    assert validated["run_launcher"]["class"] == "K8sRunLauncher"

    storage = process_config(PostgresRunStorage.config_type(), instance["run_storage"]["config"])
    assert storage.success, storage.errors
    launcher = process_config(K8sRunLauncher.config_type(), instance["run_launcher"]["config"])
    assert launcher.success, launcher.errors
    # Strict Kubernetes keys: a typo in the run pods' container or Job settings fails here.
    run_pods = UserDefinedDagsterK8sConfig.from_dict(launcher.value["run_k8s_config"])
    assert run_pods.container_config["resources"]["requests"]["memory"] == "2Gi"


def test_the_rendered_instance_loads_with_the_k8s_run_launcher_and_the_local_limits(
    values, tmp_path, monkeypatch, database_url
):
    """The same instance, with its placeholder storage host pointed at the test database and an
    out-of-cluster kubeconfig (nothing is launched), loads as a DagsterInstance."""
    for name, value in CHART_ENV.items():
        monkeypatch.setenv(name, value)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "test", "user": {"token": "test"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
            }
        )
    )
    instance = chart_instance(values)
    for kind in ("run_storage", "event_log_storage", "schedule_storage"):
        instance[kind]["config"] = {"postgres_url": database_url.replace("postgresql://", "postgresql+psycopg2://")}
    instance["run_launcher"]["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance))

    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    with DagsterInstance.from_config(str(tmp_path)) as loaded:
        assert isinstance(loaded.run_launcher, K8sRunLauncher)
        assert loaded.run_launcher.job_namespace == NAMESPACE
        assert loaded.run_launcher.env_secrets == ["invest-assets-env"]
        assert loaded.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
        concurrency = loaded.get_concurrency_config()
        # The embedding pool's limit and run retries are the embedded default's.
        assert concurrency.pool_config.default_pool_limit == local["concurrency"]["pools"]["default_limit"]
        assert concurrency.run_queue_config.max_concurrent_runs == 8
        assert loaded.run_retries_max_retries == local["run_retries"]["max_retries"]
        assert loaded.run_monitoring_enabled


def test_the_secrets_are_kubernetes_secrets_the_values_refer_to(values):
    secrets = {}
    for document in load("secrets.yaml"):
        secret = k8s_model_from_dict(
            kubernetes.client.V1Secret, k8s_snake_case_dict(kubernetes.client.V1Secret, document)
        )
        secrets[secret.metadata.name] = secret
    deployment = values["dagster-user-deployments"]["deployments"][0]
    referenced = {
        s["name"] for s in deployment["envSecrets"] + values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    } | {values["global"]["postgresqlSecretName"]}
    assert referenced == set(secrets)
    assert set(secrets[values["global"]["postgresqlSecretName"]].string_data) == {"postgresql-password"}


def test_the_code_server_settings_are_kubernetes_objects_and_settings_the_package_reads(values):
    deployment = values["dagster-user-deployments"]["deployments"][0]
    k8s_snake_case_dict(kubernetes.client.V1ResourceRequirements, deployment["resources"])
    for variable in deployment["env"]:
        k8s_model_from_dict(kubernetes.client.V1EnvVar, variable)
    (app_secret,) = [d for d in load("secrets.yaml") if d["metadata"]["name"] == "invest-assets-env"]
    package_source = "\n".join(p.read_text() for p in (ROOT / "invest_assets").rglob("*.py"))
    names = [v["name"] for v in deployment["env"]] + list(app_secret["stringData"])
    unread = [name for name in names if f'"{name}"' not in package_source]
    assert not unread, f"set in deploy/k8s but read nowhere in invest_assets: {unread}"


def test_the_code_server_serves_the_workspace_definitions_and_the_image_installs_dagster_k8s(values, tmp_path):
    deployment = values["dagster-user-deployments"]["deployments"][0]
    (location,) = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"]
    module = location["python_module"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module["module_name"], "-a", module["attribute"]]

    # The code server's configuration (BigQuery source, OpenAI embedder, placeholder Secrets)
    # loads the definitions: nothing in the asset code differs from the embedded default.
    (app_secret,) = [d for d in load("secrets.yaml") if d["metadata"]["name"] == "invest-assets-env"]
    env = {
        **os.environ,
        **{v["name"]: v["value"] for v in deployment["env"]},
        **app_secret["stringData"],
        "DAGSTER_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [Path(sys.executable).parent / "dagster", "definitions", "validate", *deployment["dagsterApiGrpcArgs"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    dockerfile = (K8S / "Dockerfile").read_text()
    k8s_extra = [r for r in importlib.metadata.requires("invest-assets") if 'extra == "k8s"' in r]
    assert '".[k8s]"' in dockerfile and any(r.startswith("dagster-k8s") for r in k8s_extra)
    copied = re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M)
    assert all((ROOT / path).exists() for line in copied for path in line.split())
