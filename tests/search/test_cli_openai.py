"""Every query CLI in the production configuration: INVEST_EMBEDDER=openai with a key, against
the real `openai` client talking to the loopback fake, on a database the same embedder built."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.test_core_assets import COMPANIES, INVESTMENTS, INVESTORS, ROUNDS
from tests.fakes.openai_server import FakeOpenAI
from tests.source_files import write_source

BIN = Path(sys.executable).parent
SECRET = "sk-test-cli-7777"


def invest_assets(env, *args) -> str:
    done = subprocess.run([BIN / "invest-assets", *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert SECRET not in done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_query_clis_work_with_the_openai_embedder(tmp_path, database_url):
    source = write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    with FakeOpenAI() as fake:
        env = dict(
            os.environ,
            ALLOYDB_URL=database_url,
            INVEST_SOURCE_DIR=str(source),
            INVEST_EMBEDDER="openai",
            OPENAI_API_KEY=SECRET,
            OPENAI_BASE_URL=fake.base_url,
            DAGSTER_HOME=str(tmp_path / "dagster"),
            INVEST_ASSETS_HOME=str(tmp_path / "home"),
        )
        (tmp_path / "dagster").mkdir()
        invest_assets(env, "build")
        assert "mission driven fintech" in fake.inputs

        found = json.loads(
            invest_assets(env, "find-investors", "--signal-text", "mission fintech", "--recency-months", "0", "--json")
        )
        assert [i["source_id"] for i in found["investors"]] == ["f1"]
        assert "mission fintech" in fake.inputs  # the query was embedded by the OpenAI client
        assert all(a == f"Bearer {SECRET}" for a in fake.authorization)

        assert "recorded" in invest_assets(env, "feedback", str(found["run_id"]), "f1", "thumbs_up")
        assert "Pat Partner" in invest_assets(env, "warm-paths", "f1")
        assert "indexes" in invest_assets(env, "index", "--dimensions", "sector")
