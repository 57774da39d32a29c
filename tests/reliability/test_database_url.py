"""A mistyped ALLOYDB_URL is refused before any connection attempt, with the password masked
everywhere: stderr, the Dagster event log and the compute logs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from invest_assets.resources.database import InvalidDatabaseURL, validated_url
from invest_assets.settings import masked_url

BIN = Path(sys.executable).parent
PASSWORD = "Pl4nted-S3cret"
BAD_URLS = [
    f"mysql://app:{PASSWORD}@db.internal/invest",
    f"postgressql://app:{PASSWORD}@db.internal/invest",
    f"postgresql:/app:{PASSWORD}@db.internal/invest",
    f"postgresql://app:{PASSWORD}@db.internal:notaport/x",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_url_is_refused_with_the_password_masked(url):
    with pytest.raises(InvalidDatabaseURL) as refused:
        validated_url(url)
    assert PASSWORD not in str(refused.value) and "***" in str(refused.value)
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in str(refused.value)


def test_masking_covers_password_parameters():
    assert (
        masked_url(f"postgresql://h/db?sslmode=require&password={PASSWORD}")
        == "postgresql://h/db?sslmode=require&password=***"
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", [["build"], ["find-investors", "--sector-text", "fintech"], ["migrate"]])
def test_the_clis_say_one_line_and_leak_nothing(tmp_path, command):
    home = tmp_path / "dagster_home"
    env = dict(os.environ, ALLOYDB_URL=BAD_URLS[0], INVEST_ASSETS_HOME=str(tmp_path / "home"))
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [BIN / "invest-assets", *command], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().startswith("error: ALLOYDB_URL") and "Traceback" not in done.stderr
    written = "".join(path.read_text(errors="replace") for path in tmp_path.rglob("*") if path.is_file())
    assert PASSWORD not in done.stdout + done.stderr + written
    assert not home.exists() or PASSWORD not in str(list(home.rglob("*")))
