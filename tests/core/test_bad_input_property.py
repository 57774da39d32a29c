"""Property: whatever the source sends, every row is either loaded exactly as given or
quarantined with a reason; none is lost, none crashes the load, text round-trips byte for byte."""

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invest_assets.core.loader import load_table
from invest_assets.sources.local_files import read_local_table
from invest_assets.sources.schema import INVESTORS
from tests.source_files import write_table

NASTY_TEXT = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(
            [
                "\x00",
                "\u202e",
                "\u200f",
                "🚀",
                "👩‍👩‍👧",
                "e\u0301",
                "'",
                '"',
                "\\",
                ";",
                "--",
                "%s",
                "{}",
                "\r",
                "\n",
                "\t",
                "\ufeff",
            ]
        ),
    ),
    max_size=20,
).map("".join)
HUGE_TEXT = "x" * 200_000
SQL_INJECTION = "'); DROP TABLE investors; --"


def mostly(valid, invalid):
    """Valid 19 times in 20 per cell, so examples mix loaded and quarantined rows."""
    return st.integers(0, 19).flatmap(lambda n: invalid if n == 0 else valid)


CLEAN_TEXT = NASTY_TEXT.map(lambda t: t.replace("\x00", ""))
NAMES = mostly(
    st.one_of(CLEAN_TEXT.filter(bool), st.just(HUGE_TEXT), st.just(SQL_INJECTION)),
    st.one_of(st.just(""), NASTY_TEXT.map(lambda t: t + "\x00")),
)
KEYS = st.sampled_from(["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"])
INTEGER_CELLS = mostly(
    st.one_of(st.integers(0, 10**12).map(str), st.just("")),
    st.one_of(st.integers(-(10**6), -1).map(str), st.just("1.5"), st.just("9" * 30), NASTY_TEXT.filter(bool)),
)
LIST_CELLS = mostly(
    st.one_of(
        st.lists(st.sampled_from(["seed", "series_a", "fintech", "ai"]), max_size=3).map(json.dumps),
        st.lists(CLEAN_TEXT.filter(bool), max_size=2).map(json.dumps),
        st.just(""),
    ),
    st.sampled_from(["[1, 2]", "not json", '[""]']),
)
GEO_CELLS = mostly(
    st.one_of(st.lists(st.sampled_from(["US", "CA", "GB", "IN"]), max_size=3).map(json.dumps), st.just("")),
    st.sampled_from(['["USA"]', '["zz"]']),
)
ROW = st.fixed_dictionaries(
    {
        "source_id": mostly(KEYS, st.just("")),
        "name": NAMES,
        "kind": mostly(st.sampled_from(["firm", "person"]), st.sampled_from(["Firm", "", "robot"])),
        "firm_source_id": mostly(st.one_of(st.just(""), KEYS), st.just("dangling")),
        "active": mostly(st.sampled_from(["true", "false", "", "TRUE"]), st.just("yes")),
        "check_size_min_usd": INTEGER_CELLS,
        "check_size_max_usd": INTEGER_CELLS,
        "preferred_stages": LIST_CELLS,
        "geographies": GEO_CELLS,
        "signal_text": st.one_of(CLEAN_TEXT, st.just(SQL_INJECTION)),
        "thesis_summary": CLEAN_TEXT,
        "updated_at": mostly(
            st.sampled_from(["2024-01-01T00:00:00Z", ""]), st.sampled_from(["yesterday", "2024-13-45"])
        ),
    }
)


def source_chunks(rows, via: str, directory: Path):
    """The rows as the loader gets them: a DataFrame, or read back from a real CSV or Parquet file."""
    frame = pd.DataFrame(rows).reindex(columns=list(INVESTORS.column_names))
    if via == "frame":
        return [frame]
    for stale in directory.glob("investors.*"):
        stale.unlink()
    if via == "csv":
        write_table(directory, "investors", rows)
    else:
        frame.fillna("").to_parquet(directory / "investors.parquet")
    return list(read_local_table(directory, "investors"))


def load(db, rows, via="frame", directory=None):
    chunks = source_chunks(rows, via, directory)
    with db.connection() as conn:
        conn.execute("TRUNCATE investors, quarantine CASCADE")
        load_table(conn, INVESTORS, chunks, "property-run")
        live = conn.execute(
            # What the source stated, as stored (the served columns may fall back to derived values).
            "SELECT source_id, name, signal_text_stated, thesis_summary, check_size_min_usd_stated,"
            " preferred_stages_stated FROM investors"
        ).fetchall()
        quarantined = conn.execute("SELECT source_id, reason, raw::text FROM quarantine").fetchall()
    return {r[0]: r for r in live}, quarantined


def as_given(cell):
    return None if cell == "" else cell


@pytest.mark.filterwarnings("ignore")
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=st.lists(ROW, min_size=1, max_size=12))
@pytest.mark.parametrize("via", ["frame", "csv", "parquet"])
def test_every_row_is_loaded_as_given_or_quarantined(db, tmp_path, via, rows):
    live, quarantined = load(db, rows, via, tmp_path)

    # Nothing lost: every input row is either the live row of its key or a quarantine row.
    assert len(live) + len(quarantined) == len(rows)
    assert all(reason and ": " in reason for _, reason, _ in quarantined)

    for row in rows:
        stored = live.get(row["source_id"])
        if stored is None:
            continue
        _, name, signal_text, thesis_summary, check_min, stages = stored
        assert name == as_given(row["name"])  # byte for byte, NUL-free by construction
        assert signal_text == as_given(row["signal_text"])
        assert thesis_summary == as_given(row["thesis_summary"])
        assert check_min == (int(row["check_size_min_usd"]) if row["check_size_min_usd"] else None)
        assert stages == (json.loads(row["preferred_stages"]) if row["preferred_stages"] else None)

    # Every input name comes out exactly once, as a live row or in a quarantined raw row,
    # byte for byte (NUL bytes, RTL marks, emoji and SQL metacharacters included).
    names_out = [name for _, name, *_ in live.values()] + [json.loads(raw).get("name") for _, _, raw in quarantined]
    assert sorted(n or "" for n in names_out) == sorted(r["name"] for r in rows)


@pytest.mark.parametrize("via", ["csv", "parquet"])
def test_a_nul_byte_in_a_file_cell_is_quarantined_not_cut(db, tmp_path, via):
    rows = [
        {"source_id": "k1", "name": "Consumer\x00 Partner 0", "kind": "firm"},
        {"source_id": "k2", "name": "Consumer Partner 1", "kind": "firm"},
    ]
    live, quarantined = load(db, rows, via, tmp_path)
    assert set(live) == {"k2"}
    [(source_id, reason, raw)] = quarantined
    assert source_id == "k1" and reason.startswith("nul_byte: ")
    assert json.loads(raw)["name"] == "Consumer\x00 Partner 0"
