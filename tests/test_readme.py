"""The README is a short front door with its two set-up commands; the docs behind it state facts the code keeps."""

import re
from pathlib import Path

from invest_assets.sources.schema import TABLES

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_every_source_column_is_documented():
    sources = (ROOT / "docs" / "sources.md").read_text()
    for spec in TABLES.values():
        section = sources.split(f"**{spec.name}**", 1)[1].split("\n\n", 2)[1]
        documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
        assert documented == list(spec.column_names), spec.name


def test_readme_starts_with_the_two_setup_commands():
    setup = README.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"```bash\n(.+?)\n```", setup) == ["make run", "make test"]


def test_readme_is_a_short_front_door():
    assert len(README.splitlines()) <= 120


def test_every_relative_link_resolves():
    for page in [ROOT / "README.md", *DOCS]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_readme_links_every_doc():
    linked = set(re.findall(r"\]\(docs/([a-z_]+\.md)\)", README))
    assert linked == {page.name for page in DOCS}
