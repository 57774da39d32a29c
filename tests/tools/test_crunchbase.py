"""Crunchbase exports (committed extracts of real files) converted to the local layout and loaded
through the core assets: messy rows end up loaded or quarantined with a reason, never dropped silently."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from dagster import materialize

from invest_assets.cli import cli
from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.tools.crunchbase import (
    amount,
    convert_bulk_export,
    convert_open_data_2013,
    decode_export,
    investor_kind,
    name_and_date_links,
    round_type,
    techcrunch_links,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "crunchbase"
OCTOBER = FIXTURES / "october-2013"
LINKS = FIXTURES / "holmesjoli-2013" / "investments.csv"
TECHCRUNCH = FIXTURES / "techcrunch-2013"


def convert_2013(out: Path):
    return convert_open_data_2013(
        OCTOBER / "crunchbase-companies.csv", OCTOBER / "crunchbase-rounds.csv", name_and_date_links(LINKS), out
    )


def read(directory: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(directory / f"{table}.csv", dtype=str, keep_default_na=False)


def load(db, directory: Path) -> dict:
    result = materialize(
        core_assets,
        resources={"database": db, "source": LocalFileSource(directory=str(directory))},
        tags=all_months_tags(),
    )
    assert result.success
    return {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}


def test_mac_roman_cr_only_and_cp1252_files_decode():
    assert decode_export(b"name\rCond\x8e Nast\rAnchor\xaa") == "name\nCondé Nast\nAnchor™"
    assert decode_export(b"name\r\nSoci\xe9t\xe9 \x80\r\n") == "name\nSociété €\n"
    assert decode_export("name\nZürich\n".encode()) == "name\nZürich\n"


@pytest.mark.parametrize(
    ("kind", "code", "expected"),
    [
        ("series-a", "", "series_a"),
        ("series-c+", "", "series_c_plus"),
        ("venture", "B", "series_b"),
        ("venture", "", "venture"),
        ("private-equity", "", "private_equity"),
        ("seed", "", "seed"),
        ("b", "", "series_b"),
    ],
)
def test_round_types(kind, code, expected):
    assert round_type(kind, code) == expected


def test_amounts_and_investor_kinds():
    assert [amount(a) for a in ("8500000", "12700000.0", "", "1.5", "n/a")] == ["8500000", "12700000", "", "1.5", "n/a"]
    assert investor_kind("Peter Thiel") == "person"
    assert investor_kind("Sequoia Capital") == "firm" and investor_kind("SV Angel") == "firm"
    assert (
        investor_kind("Ron Conway", "individual") == "person" and investor_kind("Y Combinator", "accelerator") == "firm"
    )


def test_open_data_2013_conversion(tmp_path):
    report = convert_2013(tmp_path)

    companies = read(tmp_path, "companies").set_index("source_id")
    assert companies.loc["company/shwrm", "name"] == "_Shwrüm"  # Mac Roman byte 0x9F
    assert tuple(companies.loc["company/waywire", ["hq_country", "status", "sectors"]]) == ("US", "active", '["news"]')
    assert companies.loc["company-name/oanda", "name"] == "OANDA"  # known only from the links, by name

    rounds = read(tmp_path, "funding_rounds").set_index("source_id")
    waywire = rounds.loc["company/waywire/2012-06-30/series-a"]
    assert tuple(waywire[["company_source_id", "round_type", "amount_usd"]]) == (
        "company/waywire",
        "series_a",
        "1750000",
    )
    assert rounds.loc["company-name/delicious/2005-04-01/link", "amount_usd"] == ""  # blank amounts stay blank
    assert (rounds.index == "company/accelgolf/2008-01-01/other").sum() == 3  # disagreeing rows kept for quarantine

    investments = read(tmp_path, "investments")
    assert (
        (investments["funding_round_source_id"] == "company/waywire/2012-06-30/series-a")
        & (investments["investor_source_id"] == "investor-name/first-round-capital")
    ).any()
    assert report.exact_duplicates_dropped == {"companies": 0, "funding_rounds": 1, "investments": 1, "investors": 0}
    assert report.notes == {"links_joined_to_rounds": 70, "links_with_rounds_made_from_the_link": 13}


def test_conversion_is_deterministic(tmp_path):
    convert_2013(tmp_path / "a")
    convert_2013(tmp_path / "b")
    for table in ("companies", "funding_rounds", "investments", "investors"):
        assert (tmp_path / "a" / f"{table}.csv").read_bytes() == (tmp_path / "b" / f"{table}.csv").read_bytes()


def test_open_data_2013_loads_and_quarantines_the_messy_rows(db, tmp_path):
    convert_2013(tmp_path)
    metadata = load(db, tmp_path)

    assert metadata["companies"]["inserted"].value == 15
    assert metadata["funding_rounds"]["quarantined_by_reason"].value == {"duplicate_key": 3}
    with db.connection() as conn:
        reasons = conn.execute(
            "SELECT source_id, split_part(reason, ':', 1) FROM quarantine WHERE table_name = 'funding_rounds'"
        ).fetchall()
        assert {r[0] for r in reasons} == {"company/accelgolf/2008-01-01/other"}
        # The links of the quarantined round are quarantined too, by the reference they cannot resolve.
        lost_links = conn.execute(
            "SELECT count(*) FROM quarantine WHERE table_name = 'investments' AND reason LIKE 'unknown_reference%'"
        ).fetchone()[0]
        live_links = conn.execute("SELECT count(*) FROM investments WHERE deleted_at IS NULL").fetchone()[0]
        assert (live_links, lost_links) == (len(read(tmp_path, "investments")) - 3, 3)
        pairs = conn.execute(
            "SELECT count(*) FROM investments a JOIN investments b"
            " ON a.funding_round_id = b.funding_round_id AND a.investor_id < b.investor_id"
        ).fetchone()[0]
        assert pairs > 0
    assert load(db, tmp_path)["investments"]["inserted"].value == 0  # a rerun changes nothing


def test_bulk_export_conversion_and_load(db, tmp_path):
    report = convert_bulk_export(FIXTURES / "bulk-2017", tmp_path)

    rounds = read(tmp_path, "funding_rounds").set_index("source_id")
    guestdriven = rounds.loc["a6dd0dd6-b0bb-1be9-adf7-50abc6317d92"]
    assert tuple(guestdriven[["round_type", "amount_usd", "announced_at"]]) == ("series_a", "3000000", "2013-11-01")
    # Its three leads are not in the (cut) investors file: the links keep is_lead, the round names no lead.
    assert guestdriven["lead_investor_source_id"] == "" and report.notes == {"leads_not_in_investors": 5}
    links = read(tmp_path, "investments")
    assert (links[links["funding_round_source_id"] == guestdriven.name]["is_lead"] == "true").sum() == 3
    investors = read(tmp_path, "investors").set_index("source_id")
    assert tuple(
        investors.loc["4e0cf914-3a8e-c3c2-4ef8-ee6f5e8fdb47", ["name", "kind", "twitter_handle", "domain"]]
    ) == ("CRV", "firm", "crv", "crv.com")
    companies = read(tmp_path, "companies").set_index("source_id")
    assert companies.loc["418fff3d-b1a2-99f6-ce46-a55dd0385ea6", "hq_country"] == "CA"

    metadata = load(db, tmp_path)
    # The sample is cut per table: links to investors it does not contain are quarantined, not lost.
    investments = metadata["investments"]
    assert investments["inserted"].value + investments["quarantined"].value == 55
    assert set(investments["quarantined_by_reason"].value) == {"unknown_reference"}
    assert investments["inserted"].value > 0


def test_cli_converts_an_export(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["crunchbase", "convert", "--layout", "bulk", "--export", str(FIXTURES / "bulk-2017"), "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "funding_rounds=8" in result.output
    assert len(read(tmp_path, "investments")) == 55

    techcrunch = CliRunner().invoke(cli, [
        "crunchbase", "convert", "--layout", "2013", "--out", str(tmp_path / "tc"),
        "--companies", str(OCTOBER / "crunchbase-companies.csv"), "--rounds", str(OCTOBER / "crunchbase-rounds.csv"),
        "--techcrunch-investments", str(TECHCRUNCH / "investments.csv"),
        "--techcrunch-investors", str(TECHCRUNCH / "investors.csv"),
    ])  # fmt: skip
    assert techcrunch.exit_code == 0, techcrunch.output
    assert "links_joined_to_rounds=16" in techcrunch.output

    missing = CliRunner().invoke(cli, ["crunchbase", "convert", "--layout", "2013", "--out", str(tmp_path)])
    assert missing.exit_code != 0 and "--companies" in missing.output


def test_techcrunch_links_join_by_company_year_and_round_code(tmp_path):
    links = techcrunch_links(TECHCRUNCH / "investments.csv", TECHCRUNCH / "investors.csv")
    report = convert_open_data_2013(
        OCTOBER / "crunchbase-companies.csv", OCTOBER / "crunchbase-rounds.csv", links, tmp_path
    )

    investments = read(tmp_path, "investments")
    by_investor = investments.groupby("investor_source_id")["funding_round_source_id"].apply(set)
    # (1stdibs, 2012, unattributed) is the October export's 2012-12-03 venture round; a seed round is its "angel".
    assert "company/1stdibs/2012-12-03/venture" in by_investor["investor-name/spark-capital"]
    assert by_investor["investor-name/y-combinator"] == {"company/1000memories/2010-01-01/angel"}
    rounds = read(tmp_path, "funding_rounds").set_index("source_id")
    made = rounds.loc["company-name/brightcove/2005/series_a/link"]
    assert tuple(made[["round_type", "announced_at", "amount_usd"]]) == ("series_a", "", "5500000")
    assert rounds.loc["company-name/showroomprive/2010/venture/link", "amount_usd"] == ""  # a EUR amount is not USD
    assert set(read(tmp_path, "investors")["kind"]) == {"firm"}
    assert report.exact_duplicates_dropped["investments"] == 1
    assert report.notes == {"links_joined_to_rounds": 16, "links_with_rounds_made_from_the_link": 8}
