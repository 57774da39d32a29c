"""The README documents the source contract and keeps its two set-up commands."""

import re
from pathlib import Path

from invest_assets.sources.schema import TABLES

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_source_column_is_documented():
    for spec in TABLES.values():
        section = README.split(f"**{spec.name}**", 1)[1].split("\n\n", 2)[1]
        documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
        assert documented == list(spec.column_names), spec.name


def test_readme_starts_with_the_two_setup_commands():
    setup = README.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"```bash\n(.+?)\n```", setup) == ["make run", "make test"]
