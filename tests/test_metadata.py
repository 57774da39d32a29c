"""The Markdown previews every asset shows in the UI."""

from invest_assets.metadata import markdown_table, preview


def test_cells_with_pipes_and_line_breaks_stay_in_their_cell():
    table = markdown_table(["name", "note"], [("A | B Capital", "line one\nline two"), (None, 3)])
    assert table.splitlines() == ["| name | note |", "|---|---|", "| A \\| B Capital | line one line two |", "|  | 3 |"]


def test_preview_takes_headers_from_the_query(db):
    with db.connection() as conn:
        shown = preview(conn, "SELECT x AS investor, x * 2 AS doubled FROM generate_series(1, %s) x", (2,))
    assert shown.value.splitlines() == ["| investor | doubled |", "|---|---|", "| 1 | 2 |", "| 2 | 4 |"]
