"""The loader's staging: list columns go to the stage as array literals built by Arrow, typed after the COPY."""

from invest_assets.core.loader import array_literals

LISTS = [
    ['a"b', "c\\d", "\\", '"', " padded ", "NULL", "{x,y}", "é🚀\u202e", "\t"],
    [],
    None,
    ["fintech"],
]


def test_array_literals_read_back_as_the_same_lists(db):
    literals = array_literals(LISTS)
    with db.connection() as conn:
        read = [conn.execute("SELECT %s::text[]", (literal,)).fetchone()[0] for literal in literals]
    assert read == LISTS
