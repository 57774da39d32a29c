"""The lineage pictures in the README and docs/lineage.md are what `invest-assets lineage` generates from the code."""

from invest_assets import lineage
from invest_assets.definitions import defs


def test_the_checked_in_pictures_match_the_code_location():
    for path, mermaid in (
        (lineage.README, lineage.group_mermaid(defs)),
        (lineage.LINEAGE_DOC, lineage.asset_mermaid(defs)),
    ):
        text = path.read_text()
        assert lineage.with_block(text, mermaid) == text, f"{path.name}: run `invest-assets lineage --write`"


def test_the_asset_picture_has_every_asset_and_edge():
    picture = lineage.asset_mermaid(defs)
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert f"    {key.to_user_string()}\n" in picture + "\n"
        for parent in graph.get(key).parent_keys:
            assert f"  {parent.to_user_string()} --> {key.to_user_string()}" in picture
    assert "subgraph group_graph [graph]" in picture  # `graph` alone is a Mermaid keyword
