"""One settings module: every environment variable declared once, documented from it, read only through it."""

import ast
import re
from pathlib import Path

from click.testing import CliRunner

from invest_assets import settings
from invest_assets.cli import cli

PACKAGE = Path(settings.__file__).parent
DOC = settings.PROJECT_ROOT / "docs" / "settings.md"
# Writing the environment is how Dagster's instance, its run workers and `dagster dev` receive DAGSTER_HOME
# and DAGSTER_POSTGRES_URL (ops.prepare_instance); the backtest hands a child build its own environment.
ENVIRONMENT_USERS = {"settings.py", "instance.py", "ranking/evaluate.py"}


def test_the_docs_table_is_the_module():
    assert DOC.read_text().split("\n## ", 1)[1] == settings.markdown_table().split("## ", 1)[1]


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and node.attr in ("environ", "getenv", "putenv")
            ):
                readers.append(str(path.relative_to(PACKAGE)))
    assert set(readers) <= ENVIRONMENT_USERS, sorted(set(readers) - ENVIRONMENT_USERS)


def test_every_variable_named_in_the_package_is_declared():
    named = set()
    for path in PACKAGE.rglob("*.py"):
        named |= set(re.findall(r"[\"'`{]((?:INVEST|OPENAI|DAGSTER_POSTGRES|ALLOYDB)_[A-Z_]+)\b", path.read_text()))
    assert named <= set(settings.BY_NAME), sorted(named - set(settings.BY_NAME))


def test_config_shows_where_each_value_came_from_with_secrets_masked(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("ALLOYDB_URL", "postgresql://app:hunter2@10.0.0.5/vc")
    monkeypatch.setenv("INVEST_EMBEDDER", "openai")
    monkeypatch.delenv("INVEST_RECALL_THRESHOLD", raising=False)
    out = CliRunner().invoke(cli, ["config"]).output
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == set(settings.BY_NAME)
    assert "sk-very-secret" not in out and "hunter2" not in out
    assert "postgresql://app:***@10.0.0.5/vc" in lines["ALLOYDB_URL"]
    assert lines["OPENAI_API_KEY"].split()[1:] == ["***", "(environment)"]
    assert lines["INVEST_EMBEDDER"].split()[1:] == ["openai", "(environment)"]
    assert lines["INVEST_RECALL_THRESHOLD"].split()[1:] == ["0.95", "(default)"]


def test_a_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("INVEST_HNSW_ITERATIVE_SCAN", "sideways")
    try:
        settings.HNSW_ITERATIVE_SCAN.value()
    except ValueError as err:
        assert "INVEST_HNSW_ITERATIVE_SCAN='sideways'" in str(err) and "strict_order" in str(err)
    else:
        raise AssertionError("accepted an unknown iterative scan mode")
