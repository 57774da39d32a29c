"""The ranking backtest: nothing after the cut reaches the as-of build, metrics are exact, and
the whole evaluation runs through the normal build and find_investors on a small graph."""

import math
from datetime import date

import numpy as np
import psycopg
import pytest

from invest_assets.ranking.evaluate import (
    LEARNED,
    evaluate,
    feedback_examples,
    fit_model,
    held_out_rounds,
    lead_over,
    ranking_filters,
    score,
    write_as_of_source,
)
from invest_assets.resources.database import AlloyDBResource, embedded_server_url, stop_embedded_server
from invest_assets.search.find_investors import find_investors, graph_candidates, record_feedback
from invest_assets.search.graph_rank import GraphQuery, query_inputs
from tests.search.test_find_investors import LOCAL
from tests.source_files import write_source

CUT, UNTIL = date(2021, 1, 1), date(2022, 1, 1)
COMPANIES = [
    {
        "source_id": f"c{n}",
        "name": f"Company {n}",
        "sectors": '["fintech"]' if n % 2 else '["biotech"]',
        "hq_country": "US",
        "founded_year": "2018",
    }
    for n in range(1, 9)
]
INVESTORS = [
    {"source_id": source_id, "name": source_id.title(), "kind": "firm"}
    for source_id in ("fin1", "fin2", "bio1", "late")
]
ROUNDS = [
    # before the cut: fin1 and fin2 back fintech companies together, bio1 biotech ones
    *(
        {
            "source_id": f"r{n}",
            "company_source_id": f"c{n}",
            "round_type": "seed",
            "announced_at": f"2020-0{n}-01",
            "amount_usd": "2000000",
        }
        for n in range(1, 7)
    ),
    # after the cut: a follow-on of c1 and a first round of c7 (fintech) and c8 (biotech)
    {
        "source_id": "f1",
        "company_source_id": "c1",
        "round_type": "series_a",
        "announced_at": "2021-03-01",
        "amount_usd": "8000000",
    },
    {
        "source_id": "f7",
        "company_source_id": "c7",
        "round_type": "seed",
        "announced_at": "2021-04-01",
        "amount_usd": "2000000",
    },
    {
        "source_id": "f8",
        "company_source_id": "c8",
        "round_type": "seed",
        "announced_at": "2021-05-01",
        "amount_usd": "2000000",
    },
]
INVESTMENTS = [
    *({"funding_round_source_id": f"r{n}", "investor_source_id": i} for n in (1, 3, 5) for i in ("fin1", "fin2")),
    *({"funding_round_source_id": f"r{n}", "investor_source_id": "bio1"} for n in (2, 4, 6)),
    {"funding_round_source_id": "f1", "investor_source_id": "fin1"},
    {"funding_round_source_id": "f1", "investor_source_id": "late"},  # late has no history before the cut
    {"funding_round_source_id": "f7", "investor_source_id": "fin2"},
    {"funding_round_source_id": "f8", "investor_source_id": "bio1"},
]


def test_score_counts_recall_hits_ndcg_and_reciprocal_rank():
    assert score(["x", "a", "y", "b"], {"a", "b"}) == {
        "recall@25": 1.0,
        "hit@25": 1.0,
        "ndcg@25": (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)),
        "mrr": 0.5,
    }
    assert score(["x"], {"a"}) == {"recall@25": 0.0, "hit@25": 0.0, "ndcg@25": 0.0, "mrr": 0.0}


def test_the_lead_over_the_best_baseline_is_paired_round_by_round():
    follow_on = np.array([False, False, True, True])
    recalls = {
        LEARNED: np.array([0.5, 0.5, 1.0, 0.5]),
        "popular": np.array([0.0, 0.0, 1.0, 0.5]),  # best on follow-ons: the lead there is nothing
        "fresh": np.array([0.5, 0.0, 0.0, 0.0]),  # best on first rounds
    }
    leads = lead_over(recalls, follow_on, ["popular", "fresh"], np.random.default_rng(0))
    assert {split: lead["baseline"] for split, lead in leads.items()} == {
        "all": "popular",
        "first": "fresh",
        "follow_on": "popular",
    }
    assert leads["follow_on"] == {"baseline": "popular", "mean": 0.0, "low": 0.0, "high": 0.0, "n": 2}
    assert leads["first"]["mean"] == 0.25 and leads["all"]["mean"] == 0.25


# a company the source says nothing about but its rounds: fin1 backed it before the cut and again after
SILENT_COMPANY = {"source_id": "c10", "name": "Company 10"}
SILENT_ROUNDS = [
    {"source_id": "r10", "company_source_id": "c10", "announced_at": "2020-07-01"},
    {"source_id": "f10", "company_source_id": "c10", "announced_at": "2021-06-01"},
]
SILENT_INVESTMENTS = [{"funding_round_source_id": r, "investor_source_id": "fin1"} for r in ("r10", "f10")]


def write_source_with_a_silent_company(directory):
    return write_source(
        directory,
        companies=[*COMPANIES, SILENT_COMPANY],
        investors=INVESTORS,
        funding_rounds=[*ROUNDS, *SILENT_ROUNDS],
        investments=[*INVESTMENTS, *SILENT_INVESTMENTS],
    )


def test_the_as_of_source_holds_nothing_from_the_cut_on(tmp_path):
    source = write_source(
        tmp_path / "src", companies=COMPANIES, investors=INVESTORS, funding_rounds=ROUNDS, investments=INVESTMENTS
    )
    counts = write_as_of_source(source, tmp_path / "as_of", CUT)
    assert counts == {"companies": 8, "investors": 4, "funding_rounds": 6, "investments": 9}


def test_a_follow_on_is_a_round_of_a_company_with_an_investor_before_the_cut(tmp_path):
    unbacked = {"source_id": "c9", "name": "Company 9", "sectors": '["fintech"]', "hq_country": "US"}
    rounds = [
        *ROUNDS,
        {"source_id": "r9", "company_source_id": "c9", "round_type": "seed", "announced_at": "2020-07-01"},
        {"source_id": "f9", "company_source_id": "c9", "round_type": "series_a", "announced_at": "2021-06-01"},
    ]
    investments = [*INVESTMENTS, {"funding_round_source_id": "f9", "investor_source_id": "fin1"}]
    source = write_source(
        tmp_path / "src",
        companies=[*COMPANIES, unbacked],
        investors=INVESTORS,
        funding_rounds=rounds,
        investments=investments,
    )
    held_out = held_out_rounds(source, CUT, UNTIL, {"fin1", "fin2", "bio1"})
    # c9's earlier round names no investor, so its next round has no syndicate to follow
    assert {r.source_id: r.follow_on for r in held_out} == {"f1": True, "f7": False, "f8": False, "f9": False}


def test_a_round_with_no_query_text_is_held_out_for_the_graph_to_rank(tmp_path):
    """A company with no sector or country, whose round has no type or amount, is still a test round: the
    graph ranks it by its investors; the text rankings have nothing to search with."""
    source = write_source_with_a_silent_company(tmp_path / "src")
    held_out = {r.source_id: r for r in held_out_rounds(source, CUT, UNTIL, {"fin1", "fin2", "bio1"})}
    assert held_out["f10"].texts == {} and held_out["f10"].follow_on and held_out["f10"].answer == {"fin1"}


@pytest.mark.slow
def test_a_backtest_through_the_build_and_find_investors(tmp_path):
    source = write_source_with_a_silent_company(tmp_path / "src")
    workdir = tmp_path / "work"
    try:
        result = evaluate(source, CUT, UNTIL, workdir, train_months=9)  # learns from r4-r6 and r10, as of r3
        url = _url(workdir)
        with psycopg.connect(url) as conn:  # the planted post-cut rounds did not leak into the build
            assert conn.execute("SELECT max(announced_at) FROM funding_rounds").fetchone()[0] < CUT
            late = conn.execute("SELECT total_investments, signal_text FROM investors WHERE source_id = 'late'")
            assert late.fetchone() == (0, None)
            fin1 = conn.execute("SELECT signal_text FROM investors WHERE source_id = 'fin1'").fetchone()[0]
            assert "series a" not in fin1 and "2021" not in fin1
        train_url = embedded_server_url(str(workdir / "train" / "home"))
        with AlloyDBResource(url=train_url).connection() as conn:  # the same data fits the same model
            rounds = held_out_rounds(source, date(2020, 4, 1), CUT, {"fin1", "fin2", "bio1"})
            again = fit_model(conn, rounds, date(2020, 4, 1), CUT)
            judged = users_prefer_bio1_for_fintech(conn)
            with_feedback = fit_model(conn, rounds, date(2020, 4, 1), CUT, feedback_examples(conn))
        assert again == result.model
        # bio1's score gains on fin1's once users kept preferring bio1 for fintech queries
        bio1, fin1 = judged["bio1"], judged["fin1"]
        gap = again.linear(np.vstack([bio1, fin1]))
        gap_with_feedback = with_feedback.linear(np.vstack([bio1, fin1]))
        assert gap_with_feedback[0] - gap_with_feedback[1] > gap[0] - gap[1]
        assert with_feedback.trained["feedback"] == 10 and with_feedback.trained["feedback_positives"] == 5
    finally:
        for build in ("train", "test"):
            stop_embedded_server(str(workdir / build / "home"))
    assert result.rounds == 4  # every test round has a known investor; late is not in any answer
    ranking = result.rankings["find_investors graph (learned)"]
    # a fintech query finds the fintech investors, a biotech one bio1: every answer within the top 25
    assert ranking["all"]["recall@25"]["mean"] == 1.0
    assert result.rankings["company's syndicate, then popularity"]["follow_on"]["mrr"]["mean"] == 1.0
    assert "| find_investors graph (learned) | 1.000" in result.markdown()
    assert set(result.margins) == {"all", "first", "follow_on"} and "paired bootstrap" in result.markdown()
    assert result.model.trained["rounds"] == 4 and result.model.trained["features_as_of"] == "2020-04-01"
    # the round with no query text: the graph ranks it by the company's investor, the text variant cannot
    assert result.rankings["find_investors rerank (seed weights)"]["follow_on"]["recall@25"]["mean"] == 0.5


def users_prefer_bio1_for_fintech(conn) -> dict:
    """Five fintech queries as of the training start, each with a thumbs up for bio1 and a pass on fin1;
    returns both investors' model inputs in that query."""
    query = GraphQuery(None, ["fintech"], date(2020, 4, 1))
    texts, filters = {"sector": "Invests in fintech."}, ranking_filters(date(2020, 4, 1))
    for _ in range(5):
        run = find_investors(conn, LOCAL, texts, filters, variant="graph", graph=query, user="tester")
        record_feedback(conn, run.run_id, "bio1", "thumbs_up", user="tester")
        record_feedback(conn, run.run_id, "fin1", "pass", user="tester")
    ids, features = graph_candidates(conn, LOCAL, texts, filters, query)
    inputs = dict(zip(ids, query_inputs(features), strict=True))
    names = conn.execute("SELECT source_id, id FROM investors WHERE source_id IN ('bio1', 'fin1')").fetchall()
    return {source_id: inputs[investor_id] for source_id, investor_id in names}


def _url(workdir):
    return embedded_server_url(str(workdir / "test" / "home"))
