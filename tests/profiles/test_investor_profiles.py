"""investor_profiles on a hand-built graph: exact texts and preferences for known histories,
precedence both ways, as-of derivation, and one new investment re-deriving only what it changes."""

from datetime import date

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.embeddings.assets import company_description_embedding, embedding_assets
from invest_assets.embeddings.sensors import stale_embeddings_sensor
from invest_assets.profiles.assets import investor_profiles
from invest_assets.profiles.derive import derive_profiles
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.sources.schema import PROFILE_COLUMNS
from tests.source_files import write_source

COMPANIES = [
    {
        "source_id": "c1",
        "name": "Ledgerly",
        "hq_country": "US",
        "hq_region": "CA",
        "hq_city": "San Francisco",
        "founded_year": "2018",
        "sectors": '["fintech"]',
        "status": "active",
        "description": "Payments ledger for community banks",
    },
    {
        "source_id": "c2",
        "name": "Cardwise",
        "hq_country": "US",
        "hq_region": "NY",
        "hq_city": "New York",
        "founded_year": "2016",
        "sectors": '["fintech","payments"]',
        "status": "acquired",
        "description": "Corporate cards and payments for banks",
    },
    {
        "source_id": "c3",
        "name": "Helix Bio",
        "hq_country": "GB",
        "hq_city": "London",
        "founded_year": "2010",
        "primary_sector": "biotech",
        "status": "ipo",
    },
    {"source_id": "c4", "name": "Stealth Co"},
]
INVESTORS = [
    {
        "source_id": "f1",
        "name": "Fund One",
        "kind": "firm",
        "focus_sectors": '["payments"]',
        "signal_text": "mission driven fintech",
    },
    {"source_id": "f2", "name": "Fund Two", "kind": "firm"},
    {"source_id": "f3", "name": "Fund Three", "kind": "firm"},
]
ROUNDS = [
    {
        "source_id": "r1",
        "company_source_id": "c1",
        "round_type": "seed",
        "announced_at": "2019-05-01",
        "amount_usd": "3000000",
        "lead_investor_source_id": "f1",
    },
    {
        "source_id": "r2",
        "company_source_id": "c2",
        "round_type": "series_a",
        "announced_at": "2020-01-15",
        "amount_usd": "10000000",
    },
    {
        "source_id": "r3",
        "company_source_id": "c3",
        "round_type": "series_b",
        "announced_at": "2021-06-01",
        "amount_usd": "40000000",
        "lead_investor_source_id": "f2",
    },
]
INVESTMENTS = [
    {"funding_round_source_id": "r1", "investor_source_id": "f1", "is_lead": "true", "amount_usd": "2000000"},
    {"funding_round_source_id": "r1", "investor_source_id": "f2"},
    {"funding_round_source_id": "r2", "investor_source_id": "f1"},
    {"funding_round_source_id": "r3", "investor_source_id": "f2", "is_lead": "true"},
]
COLUMNS = (*PROFILE_COLUMNS, "provenance")


def build(db, directory, *, embed=False):
    assets = [*core_assets, investor_profiles, *([*embedding_assets, company_description_embedding] if embed else [])]
    resources = {"database": db, "source": LocalFileSource(directory=str(directory)), "embedder": EmbedderResource()}
    result = materialize(assets, resources=resources, tags=all_months_tags())
    assert result.success
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.path == ["investor_profiles"]
    ]
    return event.materialization.metadata


def profiles(db):
    with db.connection() as conn:
        rows = conn.execute(f"SELECT source_id, {', '.join(COLUMNS)} FROM investors ORDER BY source_id").fetchall()
    return {row[0]: dict(zip(COLUMNS, row[1:], strict=True)) for row in rows}


@pytest.fixture
def source(tmp_path):
    return write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )


DERIVED_EVERYTHING = {
    field: "derived"
    for field in (*PROFILE_COLUMNS[:-2], "check_size")  # the check size range is one field
}
EXPECTED_F2 = {
    "sector_text": "Invests in biotech (50%), fintech (50%). Most active lately in biotech. "
    "Its companies build: banks, community, ledger, payments.",
    "stage_text": "Invests at seed (50%), series b (50%). Leads 50% of its rounds, most often at series b.",
    "check_text": "Typical check $1.5M to $40M (median $20.8M): growth checks.",  # 3M / 2 in r1, 40M alone in r3
    "geography_text": "Backs companies in United Kingdom (50%), United States (50%). Most often London, San Francisco.",
    "signal_text": "Latest investments: Helix Bio (biotech, series b, 2021-06-01); "
    "Ledgerly (fintech, seed, 2019-05-01).",
    "founder_text": "Backs companies founded 2010 to 2018. Invests at the very start, when companies are at most two "
    "years old. Outcomes so far: 50% active, 50% public. "
    "Its companies build: banks, community, ledger, payments.",
    "focus_sectors": ["biotech", "fintech"],
    "preferred_stages": ["seed", "series_b"],
    "geographies": ["GB", "US"],
    "check_size_min_usd": 750_000,
    "check_size_max_usd": 80_000_000,  # half the smallest, twice the largest
    "provenance": DERIVED_EVERYTHING,
}
EXPECTED_F1 = {
    "sector_text": "Invests in fintech (100%), payments (50%). Most active lately in fintech, payments. "
    "Its companies build: banks, payments, cards, community, corporate, ledger.",
    "stage_text": "Invests at seed (50%), series a (50%). Leads 50% of its rounds, most often at seed.",
    "check_text": "Typical check $2M to $10M (median $6M): series a to b checks.",  # its own 2M, 10M alone in r2
    "geography_text": "Backs companies in United States (100%). Most often New York, San Francisco.",
    "signal_text": "mission driven fintech",  # stated by the source
    "founder_text": "Backs companies founded 2016 to 2018. Invests at the very start, when companies are at most two "
    "years old. Outcomes so far: 50% active, 50% acquired. Its companies build: banks, payments, "
    "cards, community, corporate, ledger.",
    "focus_sectors": ["payments"],  # stated
    "preferred_stages": ["seed", "series_a"],
    "geographies": ["US"],
    "check_size_min_usd": 1_000_000,
    "check_size_max_usd": 20_000_000,
    "provenance": DERIVED_EVERYTHING | {"signal_text": "source", "focus_sectors": "source"},
}


def test_profiles_of_known_histories(db, source):
    metadata = build(db, source)
    assert metadata["dagster/row_count"].value == 2 and metadata["without_history"].value == 1
    got = profiles(db)
    assert got["f2"] == EXPECTED_F2
    assert got["f1"] == EXPECTED_F1
    assert got["f3"] == dict.fromkeys(COLUMNS) | {"provenance": {}}  # no history, nothing stated


def test_a_source_value_wins_and_clearing_it_lets_the_derived_one_back(db, source):
    build(db, source)
    cleared = [dict(row, signal_text="", focus_sectors="") if row["source_id"] == "f1" else row for row in INVESTORS]
    write_source(source, companies=COMPANIES, investors=cleared, funding_rounds=ROUNDS, investments=INVESTMENTS)
    build(db, source)
    f1 = profiles(db)["f1"]
    assert (
        f1["signal_text"] == "Latest investments: Cardwise (fintech, series a, 2020-01-15); Ledgerly (fintech, "
        "seed, 2019-05-01)."
    )
    assert f1["focus_sectors"] == ["fintech", "payments"]
    assert f1["provenance"] == DERIVED_EVERYTHING

    stated = [dict(row, stage_text="We lead seed rounds") if row["source_id"] == "f2" else row for row in INVESTORS]
    write_source(source, companies=COMPANIES, investors=stated, funding_rounds=ROUNDS, investments=INVESTMENTS)
    build(db, source)
    f2 = profiles(db)["f2"]
    assert f2["stage_text"] == "We lead seed rounds" and f2["provenance"]["stage_text"] == "source"
    assert f2["sector_text"] == EXPECTED_F2["sector_text"]


def test_as_of_sees_only_rounds_before_the_date(db, source):
    build(db, source)
    with db.connection() as conn:
        derive_profiles(conn, as_of=date(2021, 1, 1))
    f2 = profiles(db)["f2"]
    assert f2["signal_text"] == "Latest investments: Ledgerly (fintech, seed, 2019-05-01)."
    assert f2["focus_sectors"] == ["fintech"] and f2["geographies"] == ["US"]


def test_one_new_investment_re_derives_and_re_embeds_only_what_it_changes(db, source):
    build(db, source, embed=True)
    before = profiles(db)
    # A round of a company the source knows nothing else about: it changes f2's stage mix and latest
    # activity, and nothing its other texts say.
    rounds = [
        *ROUNDS,
        {"source_id": "r4", "company_source_id": "c4", "round_type": "seed", "announced_at": "2021-07-01"},
    ]
    investments = [*INVESTMENTS, {"funding_round_source_id": "r4", "investor_source_id": "f2"}]
    write_source(source, companies=COMPANIES, investors=INVESTORS, funding_rounds=rounds, investments=investments)
    metadata = build(db, source)
    changed = {field for field, n in metadata["changed_by_field"].value.items() if n}
    assert changed == {"stage_text", "signal_text"}
    assert all(n <= 1 for n in metadata["changed_by_field"].value.values()) and metadata["rows_changed"].value == 1
    after = profiles(db)
    assert after["f1"] == before["f1"]
    assert {f for f in COLUMNS if after["f2"][f] != before["f2"][f]} == {"stage_text", "signal_text"}
    assert (
        after["f2"]["stage_text"] == "Invests at seed (65%), series b (35%). Leads 35% of its rounds, most often "
        "at series b."
    )

    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"database": db, "embedder": EmbedderResource()})
        requests = stale_embeddings_sensor(context).run_requests
    assert [(r.tags["invest/dimension"], r.tags["invest/stale_rows"]) for r in requests] == [("stage,signal", "1,1")]
