"""The graph variant on a hand-built graph whose right answer is known: when the syndicate signal is
strong, the company's existing investor and its frequent co-investor outrank a stranger whose text
matches the query better."""

import json
import math
from datetime import date

import numpy as np
import pytest
from click.testing import CliRunner
from dagster import materialize

from invest_assets.cli import cli
from invest_assets.core.assets import core_assets
from invest_assets.core.partitions import all_months_tags
from invest_assets.embeddings.assets import embedding_assets
from invest_assets.graph.assets import authority_score, co_investor_pairs, investment_events, ranking_signals
from invest_assets.profiles.assets import investor_profiles
from invest_assets.resources.embedders import EmbedderResource
from invest_assets.resources.local_source import LocalFileSource
from invest_assets.search.find_investors import Filters, company_query, find_investors, graph_candidates
from invest_assets.search.graph_rank import (
    FEATURES,
    INPUTS,
    TEXT_FEATURES,
    UNKNOWN_CHECK_GAP,
    RankingModel,
    check_gap,
    explain,
    query_inputs,
    served_model,
    shipped_model,
    store_model,
)
from tests.source_files import write_source

LOCAL = EmbedderResource(provider="local")
COMPANIES = [
    {"source_id": "target", "name": "Target Pay", "sectors": '["fintech"]', "hq_country": "US"},
    *({"source_id": f"o{n}", "name": f"Other {n}", "sectors": '["consumer"]', "hq_country": "US"} for n in range(6)),
    {"source_id": "f0", "name": "Fin Zero", "sectors": '["fintech"]', "hq_country": "US"},
    {"source_id": "bare", "name": "Bare Co"},  # no sector, no country: no query text
]
INVESTORS = [{"source_id": s, "name": s.title(), "kind": "firm"} for s in ("anchor", "partner", "stranger")]
ROUNDS = [
    {"source_id": "t1", "company_source_id": "target", "round_type": "seed", "announced_at": "2020-01-01"},
    *(
        {
            "source_id": f"r{n}",
            "company_source_id": f"o{n}",
            "round_type": "seed",
            "announced_at": f"2019-0{n + 1}-01",
            "amount_usd": "2000000",  # $1M from each of the two
        }
        for n in range(6)
    ),
    {"source_id": "s1", "company_source_id": "f0", "round_type": "seed", "announced_at": "2019-09-01"},
    {"source_id": "b1", "company_source_id": "bare", "round_type": "seed", "announced_at": "2019-10-01"},
]
INVESTMENTS = [
    {"funding_round_source_id": "t1", "investor_source_id": "anchor"},
    *({"funding_round_source_id": f"r{n}", "investor_source_id": i} for n in range(6) for i in ("anchor", "partner")),
    {"funding_round_source_id": "s1", "investor_source_id": "stranger"},
    {"funding_round_source_id": "b1", "investor_source_id": "anchor"},
]


# A model for which the syndicate signal is strong (the shipped model learned a small negative weight
# for it on the 2013 data, where recent activity says more): backers first, then their co-investors,
# then text. The test is of the candidates, features and scoring, not of learned weights.
SYNDICATE_MINDED = RankingModel(
    tuple({"existing_investor": 4.0, "log_syndicate": 2.0, "sector_distance": -1.0}.get(f, 0.0) for f in INPUTS),
    (0.0,) * len(INPUTS),
    (1.0,) * len(INPUTS),
    "test-syndicate-minded",
)


@pytest.fixture
def graph(db, tmp_path):
    source = write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    assets = [
        *core_assets,
        investor_profiles,
        *embedding_assets,
        ranking_signals,
        co_investor_pairs,
        authority_score,
        investment_events,
    ]
    assert materialize(
        assets,
        tags=all_months_tags(),
        resources={"database": db, "source": LocalFileSource(directory=str(source)), "embedder": LOCAL},
    ).success
    return db


def test_the_company_investors_and_their_co_investor_outrank_a_closer_text_stranger(graph):
    with graph.connection() as conn:
        texts, query = company_query(conn, "target", None)
        assert texts == {"sector": "Invests in fintech.", "geography": "Backs companies in United States."}
        graph_result = find_investors(
            conn, LOCAL, texts, Filters(recency_months=None), variant="graph", graph=query, model=SYNDICATE_MINDED
        )
        text_result = find_investors(conn, LOCAL, texts, Filters(recency_months=None), variant="rerank")
    ranked = [i["source_id"] for i in graph_result.investors]
    assert ranked == ["anchor", "partner", "stranger"]
    assert [i["source_id"] for i in text_result.investors][0] == "stranger"  # by text alone the stranger wins
    anchor, partner = graph_result.investors[:2]
    assert anchor["features"]["existing_investor"] == 1.0 and "already backs it" in anchor["explanation"]
    assert partner["features"]["log_syndicate"] > 0  # six rounds with the anchor


def test_a_company_without_any_query_text_is_ranked_by_its_graph(graph, monkeypatch):
    monkeypatch.setenv("ALLOYDB_URL", graph.url)
    query = ["find-investors", "--company", "bare", "--recency-months", "0"]
    answer = CliRunner().invoke(cli, [*query, "--json"])
    assert answer.exit_code == 0, answer.output
    first = json.loads(answer.output)["investors"][0]
    assert first["source_id"] == "anchor" and first["distances"] == {}  # it backs bare; no text to compare
    printed = CliRunner().invoke(cli, query).output.splitlines()
    [anchor] = [line for line in printed if "Anchor (anchor)" in line]
    assert "already backs it" in anchor and "[" not in anchor  # no distances to print
    assert not any("close on" in line for line in printed)  # with no text, nothing is close to it
    refused = CliRunner().invoke(cli, [*query, "--variant", "rerank"])  # text ranks need text
    assert refused.exit_code == 2 and "give at least one query text" in refused.output


def test_the_activity_pools_read_investment_events_as_of_its_last_refresh(graph):
    def sector_investments(conn) -> dict[str, int]:
        texts, query = company_query(conn, "target", None)
        ids, features = graph_candidates(conn, LOCAL, texts, Filters(recency_months=None), query)
        names = dict(conn.execute("SELECT id, source_id FROM investors").fetchall())
        column = FEATURES.index("log_sector_investments")
        return {names[i]: round(math.expm1(row[column])) for i, row in zip(ids, features, strict=True)}

    with graph.connection() as conn:
        assert sector_investments(conn) == {"anchor": 1, "partner": 0, "stranger": 1}  # fintech: target and f0
        conn.execute("UPDATE companies SET deleted_at = now() WHERE source_id = 'f0'")
        conn.commit()
        assert sector_investments(conn)["stranger"] == 1  # the view still holds the last refresh
    refreshed = materialize([investment_events], resources={"database": graph})
    assert refreshed.success
    metadata = refreshed.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["dagster/row_count"].value == len(INVESTMENTS)  # a deleted company keeps its rows, not live
    with graph.connection() as conn:
        assert sector_investments(conn) == {"anchor": 1, "partner": 0, "stranger": 0}


def test_the_asked_check_is_measured_from_the_middle_of_each_range(graph):
    with graph.connection() as conn:
        texts, query = company_query(conn, "target", None, check_usd=4_000_000)
        ids, features = graph_candidates(conn, LOCAL, texts, Filters(recency_months=None), query)
        names = dict(conn.execute("SELECT id, source_id FROM investors").fetchall())
        ranges = {
            s: (low, high)
            for s, low, high in conn.execute("SELECT source_id, check_size_min_usd, check_size_max_usd FROM investors")
        }
    gaps = {names[i]: row[FEATURES.index("check_gap")] for i, row in zip(ids, features, strict=True)}
    # $1M checks in every round: the derived range is $500K-$2M, its middle (in log) $1M, a factor 4 below
    assert ranges["partner"] == (500_000, 2_000_000)
    assert gaps["partner"] == pytest.approx(math.log(4))
    assert gaps["stranger"] == UNKNOWN_CHECK_GAP  # no round of its has an amount


def test_a_company_query_asks_its_latest_rounds_check_unless_told(graph):
    with graph.connection() as conn:
        asked = {
            (as_of, given): company_query(conn, "o0", as_of, given)[1].check_usd
            for as_of, given in ((None, None), (None, 3_000_000), (date(2019, 1, 1), None))
        }
    # o0's one round: $2M from anchor and partner; none before 2019-01-01
    assert asked == {(None, None): 1_000_000, (None, 3_000_000): 3_000_000, (date(2019, 1, 1), None): None}


def test_stage_investments_count_earlier_rounds_of_the_stage_raised(graph):
    def at_stage(conn, stage, as_of=None) -> dict[str, int]:
        texts, query = company_query(conn, "target", as_of, stage=stage)
        ids, features = graph_candidates(conn, LOCAL, texts, Filters(recency_months=None, as_of=as_of), query)
        names = dict(conn.execute("SELECT id, source_id FROM investors").fetchall())
        column = FEATURES.index("log_stage_investments")
        return {names[i]: round(math.expm1(row[column])) for i, row in zip(ids, features, strict=True)}

    with graph.connection() as conn:
        assert at_stage(conn, "seed") == {"anchor": 8, "partner": 6, "stranger": 1}  # every round is a seed
        assert at_stage(conn, "seed", date(2019, 4, 1)) == {"anchor": 3, "partner": 3, "stranger": 0}
        assert set(at_stage(conn, "series_a").values()) == set(at_stage(conn, None).values()) == {0}


def test_explanations_leave_out_what_the_query_gave_nothing_to_compare():
    """No text and no check: distances of 1 and an unknown check gap may lift a score against the fit's
    means, but "close on sector" or "writes checks of the size asked" would be untrue."""
    candidates = np.tile(np.linspace(0.1, 1.0, len(FEATURES)), (4, 1))
    candidates[:, : len(TEXT_FEATURES)] = 1.0
    candidates[:, FEATURES.index("check_gap")] = UNKNOWN_CHECK_GAP
    candidates[0, FEATURES.index("existing_investor")] = 1.0
    model = RankingModel(
        tuple({"sector_distance": -1.0, "check_gap": -1.0, "existing_investor": 0.5}.get(f, 0.0) for f in INPUTS),
        tuple(2.0 if f in ("sector_distance", "check_gap") else 0.0 for f in INPUTS),  # both lift the score
        (1.0,) * len(INPUTS),
        "test-means-above",
    )
    assert explain(model, query_inputs(candidates)[0]) == ["already backs it"]


def test_check_gap_is_symmetric_in_log_and_unknown_without_a_range_or_a_check():
    assert check_gap(1_000_000, 500_000, 2_000_000) == 0.0
    assert check_gap(250_000, 500_000, 2_000_000) == pytest.approx(check_gap(4_000_000, 500_000, 2_000_000))
    assert check_gap(1e12, 1, 2) == 5.0  # capped: beyond a factor of ~150 a misfit is a misfit
    assert check_gap(None, 500_000, 2_000_000) == check_gap(1_000_000, None, None) == UNKNOWN_CHECK_GAP


def test_the_shipped_model_is_the_documented_fit():
    model = shipped_model()
    assert model.version.startswith("graph-lr-") and model.trained["rounds"] > 0
    # What the 2013 backtest learned (docs/ranking.md): backers return, recent activity predicts the next
    # round. Each is a candidate otherwise alike to three others, scored among them.
    backer = {"existing_investor": 1.0, "log_company_rounds": math.log1p(1), "in_latest_round": 1.0}
    fits_the_check = {"check_gap": -2.0}  # the asked check at the middle of its range, the others' a factor 7 off
    for raised in (backer, {"log_recent_investments": math.log1p(3)}, fits_the_check):
        candidates = np.tile(np.linspace(0.1, 1.0, len(FEATURES)), (4, 1))
        candidates[:, FEATURES.index("check_gap")] = 2.0
        for feature, by in raised.items():
            candidates[0, FEATURES.index(feature)] += by
        assert model.score(candidates).argmax() == 0, raised
    assert "writes checks of the size asked" in explain(model, query_inputs(candidates)[0])
    assert RankingModel.from_json(model.to_json()) == model


def test_a_stored_model_of_other_inputs_is_not_served(db, caplog):
    """A model promoted by a version that computed other inputs would weigh the wrong columns: the shipped
    model serves instead, with a warning, until ranking_model is materialized again."""
    older = json.loads(shipped_model().to_json())
    older["inputs"], older["version"] = older["inputs"][: 3 * len(FEATURES)], "graph-lr-older"
    with db.connection() as conn:
        store_model(conn, shipped_model(), {}, serve=True)
        conn.execute("UPDATE ranking_models SET model = %s WHERE serving", (json.dumps(older),))
        conn.commit()
        assert served_model(conn) == shipped_model()
    assert f"graph-lr-older was fitted on {3 * len(FEATURES)} inputs other than the {len(INPUTS)}" in caplog.text


def test_a_pairs_part_of_the_score_explains_both_its_features():
    pair = "log_syndicate x existing_investor"
    model = RankingModel(tuple(float(name == pair) for name in INPUTS), (0.0,) * len(INPUTS), (1.0,) * len(INPUTS), "t")
    inputs = np.zeros(len(INPUTS))
    inputs[INPUTS.index(pair)] = 2.0
    assert explain(model, inputs) == ["co-invested with the company's investors", "already backs it"]


def test_query_inputs_compare_each_candidate_with_its_own_query():
    features = np.array([[0.2, 1.0], [0.4, 3.0], [0.6, 2.0]])
    inputs = query_inputs(features)
    assert inputs.shape == (3, 7)
    assert np.allclose(inputs[:, :2], features)
    assert np.allclose(inputs[:, 2:4].mean(axis=0), 0) and np.allclose(inputs[:, 2:4].std(axis=0), 1)
    assert np.allclose(inputs[:, 4:6], [[-0.4, -2.0], [-0.2, 0.0], [0.0, -1.0]])
    # the pair's product: high where both z-scores are high or both low
    assert np.allclose(inputs[:, 6], inputs[:, 2] * inputs[:, 3])
    assert np.allclose(inputs[:, 6], [1.5, 0.0, 0.0])
    # a feature every candidate shares says nothing about one against another
    assert np.allclose(query_inputs(np.ones((4, 2)))[:, 2:], 0)
