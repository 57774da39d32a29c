"""The ranking backtest: build as of a cut date, then rank investors for every later round.

1. **As of the cut.** The source's rounds dated before the cut (undated rounds cannot be placed,
   so they are left out) and their investments are written to a source directory of their own,
   with every company and investor, and built by ``invest-assets build`` into a fresh database
   (its own ``INVEST_ASSETS_HOME``): the normal assets, so profiles, embeddings, ranking
   signals, authority and co-investor pairs all come from pre-cut data only.
2. **The test set.** Every round of the full source dated in ``[cut, until)`` with at least one
   investor who invested before the cut. Its answer key is those investors (the ones a ranking
   built at the cut could know). The query is the round's company as the founder would describe
   it: its sectors, the round's type and check per investor, its country.
3. **Rankings.** ``find_investors`` (the production path, the CLI's) with the recency filter
   counted back from the cut, beside baselines computed on the same pre-cut database: random,
   global popularity, sector popularity, and the company's existing syndicate (its pre-cut
   investors, then their strongest co-investors).
4. **Metrics.** recall@25, hit@25, nDCG@25 and MRR, overall and for first rounds vs follow-ons
   (the company had a known investor before the cut), with bootstrap 95% intervals.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from invest_assets import settings
from invest_assets.resources.database import AlloyDBResource
from invest_assets.search.find_investors import Filters, country_name, find_investors, graph_candidates
from invest_assets.search.graph_rank import INPUTS, GraphQuery, RankingModel, query_inputs
from invest_assets.sources.local_files import read_local_table
from invest_assets.sources.schema import TABLES

K = 25
BOOTSTRAP_SAMPLES = 1000
METRICS = ("recall@25", "hit@25", "ndcg@25", "mrr")
# The fit's inverse L2 strength (scikit-learn's C). Most inputs are pairwise products (171 of 228), which a
# small training set overfits: with C 1 the committed Washington slice's recall@25 fell from 0.598 to 0.537,
# with 0.01 it was 0.607 (0.624 since the check gap), and on the 2013 data 0.01 scores as 1 does or better
# (docs/ranking.md).
REGULARIZATION = 0.01


@dataclass
class HeldOutRound:
    source_id: str
    company_source_id: str
    answer: set[str]  # investor source_ids with pre-cut history
    follow_on: bool
    texts: dict[str, str]
    sectors: list[str]
    round_type: str | None = None
    check_usd: float | None = None  # the round's amount per investor
    country: str | None = None


@dataclass
class Evaluation:
    cut: date
    until: date
    rounds: int
    rankings: dict[str, dict[str, dict]] = field(default_factory=dict)  # ranking -> split -> metric -> values
    model: RankingModel | None = None
    margins: dict[str, dict] = field(default_factory=dict)  # split -> the learned ranking's lead (see lead_over)

    def markdown(self) -> str:
        lines = [
            f"Backtest: built as of {self.cut}, {self.rounds} test rounds in [{self.cut}, {self.until}); "
            "recall@25 with its bootstrap 95% interval, then the other metrics (all splits)",
            "",
            "| ranking | recall@25 | first rounds | follow-ons | hit@25 | nDCG@25 | MRR |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, splits in self.rankings.items():
            recall = [_interval(splits[split]["recall@25"]) for split in ("all", "first", "follow_on")]
            others = [f"{splits['all'][metric]['mean']:.3f}" for metric in ("hit@25", "ndcg@25", "mrr")]
            lines.append(f"| {name} | {' | '.join(recall + others)} |")
        if self.margins:
            lines += [
                "",
                f"{LEARNED} minus the best baseline of each split, recall@25 round by round (paired bootstrap):",
            ]
            lines += [
                f"- {label}: {m['mean']:+.3f} [{m['low']:+.3f}, {m['high']:+.3f}] over {m['baseline']}"
                for label, m in zip(("all", "first rounds", "follow-ons"), self.margins.values(), strict=True)
            ]
        return "\n".join(lines)

    def as_json(self) -> str:
        model = json.loads(self.model.to_json()) if self.model else None
        return json.dumps(
            {
                "cut": str(self.cut),
                "until": str(self.until),
                "rounds": self.rounds,
                "rankings": self.rankings,
                "margins": self.margins,
                "model": model,
            },
            indent=2,
        )


def _interval(value: dict) -> str:
    return f"{value['mean']:.3f} [{value['low']:.3f}, {value['high']:.3f}] (n={value['n']})"


def _read(directory: Path, table: str) -> pd.DataFrame:
    return pd.concat(list(read_local_table(directory, table)), ignore_index=True)


def newest_round_date(source: Path) -> date:
    dates = pd.to_datetime(_read(source, "funding_rounds")["announced_at"], errors="coerce").dropna()
    if dates.empty:
        raise ValueError(f"{source}: no dated funding rounds to backtest on")
    return dates.max().date()


def write_as_of_source(source: Path, out: Path, cut: date) -> dict[str, int]:
    """The source as it was before ``cut``: rounds dated before it and their investments."""
    out.mkdir(parents=True, exist_ok=True)
    rounds = _read(source, "funding_rounds")
    dates = pd.to_datetime(rounds["announced_at"], errors="coerce")
    kept = rounds[dates < pd.Timestamp(cut)]
    investments = _read(source, "investments")
    tables = {
        "companies": _read(source, "companies"),
        "investors": _read(source, "investors"),
        "funding_rounds": kept,
        "investments": investments[investments["funding_round_source_id"].isin(set(kept["source_id"]))],
    }
    for table, frame in tables.items():
        frame.reindex(columns=list(TABLES[table].column_names)).to_csv(out / f"{table}.csv", index=False)
    return {table: len(frame) for table, frame in tables.items()}


def build_as_of(source: Path, workdir: Path, cut: date) -> str:
    """Build every asset on the pre-cut source into a fresh embedded database; returns its URL."""
    as_of_source = workdir / "source"
    write_as_of_source(source, as_of_source, cut)
    own_instance = (settings.ALLOYDB_URL, settings.DAGSTER_HOME, settings.DAGSTER_POSTGRES_URL)
    env = {k: v for k, v in os.environ.items() if k not in {s.name for s in own_instance}}
    env.update({settings.ASSETS_HOME.name: str(workdir / "home"), settings.SOURCE_DIR.name: str(as_of_source)})
    cli = Path(sys.executable).parent / "invest-assets"
    built = subprocess.run([cli, "build"], cwd=workdir, env=env, capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"the as-of build failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}")
    return subprocess.run(
        [cli, "db", "url"], cwd=workdir, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def _words(code: str) -> str:
    return code.replace("_plus", "+").replace("_", " ")


def query_texts(company: pd.Series, round_row: pd.Series, participants: int) -> dict:
    """The round's company as its founder would describe it, in the profiles' vocabulary."""
    sectors = json.loads(company["sectors"]) if company["sectors"] else []
    sectors = sectors or ([company["primary_sector"]] if company["primary_sector"] else [])
    texts = {}
    if sectors:
        texts["sector"] = f"Invests in {', '.join(_words(s) for s in sectors)}."
    if round_row["round_type"]:
        texts["stage"] = f"Invests at {_words(round_row['round_type'])}."
    if round_row["amount_usd"]:
        check = int(round_row["amount_usd"]) / max(participants, 1)
        texts["check"] = f"Typical check ${check / 1e6:.1f}M."
    if company["hq_country"]:
        texts["geography"] = f"Backs companies in {country_name(company['hq_country'])}."
    return texts


def held_out_rounds(source: Path, cut: date, until: date, known: set[str]) -> list[HeldOutRound]:
    rounds = _read(source, "funding_rounds")
    dates = pd.to_datetime(rounds["announced_at"], errors="coerce")
    window = rounds[(dates >= pd.Timestamp(cut)) & (dates < pd.Timestamp(until))]
    investments = _read(source, "investments")
    by_round = investments.groupby("funding_round_source_id")["investor_source_id"].apply(set)
    earlier = _backed_before(rounds[dates < pd.Timestamp(cut)], by_round)
    companies = _read(source, "companies").set_index("source_id")
    selected = []
    for _, row in window.iterrows():
        investors = by_round.get(row["source_id"], set())
        answer = investors & known
        if not answer or row["company_source_id"] not in companies.index:
            continue
        company = companies.loc[row["company_source_id"]]
        texts = query_texts(company, row, len(investors))  # may be empty: the graph ranks by the company
        sectors = json.loads(company["sectors"]) if company["sectors"] else []
        check = int(row["amount_usd"]) / max(len(investors), 1) if row["amount_usd"] else None
        selected.append(
            HeldOutRound(
                row["source_id"],
                row["company_source_id"],
                answer,
                row["company_source_id"] in earlier,
                texts,
                sectors or [company["primary_sector"]] * bool(company["primary_sector"]),
                row["round_type"] or None,
                check,
                company["hq_country"] or None,
            )
        )
    return selected


def _backed_before(rounds: pd.DataFrame, by_round: pd.Series) -> set[str]:
    """The companies with a known investor before the cut: their rounds are follow-ons. A company whose
    earlier rounds name no investor has no syndicate to follow, so its round counts as a first round,
    as in the issue's reference split (measured on the investment links alone)."""
    return set(rounds.loc[rounds["source_id"].isin(by_round.index), "company_source_id"])


def score(ranked: list[str], answer: set[str]) -> dict[str, float]:
    top = ranked[:K]
    hits = [i for i, investor in enumerate(top) if investor in answer]
    dcg = sum(1 / math.log2(i + 2) for i in hits)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(answer), K)))
    return {
        "recall@25": len(hits) / len(answer),
        "hit@25": float(bool(hits)),
        "ndcg@25": dcg / ideal,
        "mrr": 1 / (hits[0] + 1) if hits else 0.0,
    }


def summarize(values: list[float], rng: np.random.Generator) -> dict:
    if not values:
        return {"mean": 0.0, "low": 0.0, "high": 0.0, "n": 0}
    data = np.asarray(values)
    means = data[rng.integers(0, len(data), size=(BOOTSTRAP_SAMPLES, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(data.mean()), "low": float(low), "high": float(high), "n": len(data)}


Ranker = Callable[[HeldOutRound], list[str]]
LEARNED = "find_investors graph (learned)"
SPLITS = (("all", lambda _: True), ("first", lambda f: not f), ("follow_on", bool))


def lead_over(recalls: dict[str, np.ndarray], follow_on: np.ndarray, baselines: Iterable[str], rng) -> dict:
    """Per split, the learned ranking's recall@25 minus the best baseline's (by mean), round by round: the
    same rounds resampled for both, so the interval says whether the lead is more than chance."""
    leads = {}
    for split, keep in SPLITS:
        rows = np.array([keep(f) for f in follow_on], dtype=bool)
        best = max(baselines, key=lambda name: recalls[name][rows].mean() if rows.any() else 0.0)
        leads[split] = {"baseline": best, **summarize(list(recalls[LEARNED][rows] - recalls[best][rows]), rng)}
    return leads


def baselines(conn: psycopg.Connection, companies: list[str], seed: int = 0) -> dict[str, Ranker]:
    """Simple rankings over the pre-cut database, for find_investors to beat."""
    activity = conn.execute(
        "SELECT source_id, total_investments FROM investors WHERE deleted_at IS NULL AND total_investments > 0"
        " ORDER BY total_investments DESC, id"
    ).fetchall()
    popular = [source_id for source_id, _ in activity]
    by_sector: dict[str, list[str]] = {}
    for sector, source_id in conn.execute(
        "SELECT s.sector, v.source_id FROM investments i JOIN funding_rounds r ON r.id = i.funding_round_id"
        " JOIN companies c ON c.id = r.company_id JOIN investors v ON v.id = i.investor_id,"
        " unnest(c.sectors) AS s(sector) WHERE i.deleted_at IS NULL AND r.deleted_at IS NULL"
        " GROUP BY s.sector, v.source_id ORDER BY s.sector, count(*) DESC, v.source_id"
    ):
        by_sector.setdefault(sector, []).append(source_id)
    syndicates = _syndicates(conn, companies)
    rng = np.random.default_rng(seed)

    def random_ranking(_: HeldOutRound) -> list[str]:
        return [popular[i] for i in rng.choice(len(popular), size=min(K, len(popular)), replace=False)]

    def sector_popularity(round_: HeldOutRound) -> list[str]:
        ranked = _merge(*(by_sector.get(s, []) for s in round_.sectors))
        return _merge(ranked, popular)

    def existing_syndicate(round_: HeldOutRound) -> list[str]:
        return _merge(syndicates.get(round_.company_source_id, []), popular)

    portfolio = PortfolioCounts.of(conn)

    def syndicate_then_portfolio(round_: HeldOutRound) -> list[str]:
        return _merge(syndicates.get(round_.company_source_id, []), portfolio.ranking(round_))

    return {
        "random": random_ranking,
        "global popularity": lambda _: popular[:K],
        "sector popularity": sector_popularity,
        "company's syndicate, then popularity": existing_syndicate,
        "seed weights over portfolio counts": portfolio.ranking,
        "company's syndicate, then seed weights over portfolio counts": syndicate_then_portfolio,
    }


SEED_COUNT_WEIGHTS = {"sector": 0.30, "stage": 0.15, "check": 0.15, "geography": 0.10}


@dataclass
class PortfolioCounts:
    """Per investor, its pre-cut investments counted by the company's sector and country, the round type
    and the check size (log2 bins); a round's ranking weighs the counts that match it by the seed's
    weights (sector .30, stage .15, check .15, geography .10): the seed's weights over what investors did."""

    investors: np.ndarray
    by: dict[str, pd.DataFrame]  # dimension -> investors x values, counts

    @classmethod
    def of(cls, conn: psycopg.Connection) -> PortfolioCounts:
        rows = pd.DataFrame(
            conn.execute(
                "SELECT v.source_id, c.sectors, r.round_type, c.hq_country,"
                " coalesce(i.amount_usd, r.amount_usd / count(*) OVER (PARTITION BY r.id)) AS check_usd"
                " FROM investments i JOIN funding_rounds r ON r.id = i.funding_round_id AND r.deleted_at IS NULL"
                " JOIN companies c ON c.id = r.company_id JOIN investors v ON v.id = i.investor_id"
                " WHERE i.deleted_at IS NULL"
            ).fetchall(),
            columns=["investor", "sectors", "stage", "geography", "check"],
        )
        rows["check"] = _check_bin(rows["check"])
        investors = np.asarray(sorted(rows["investor"].unique()))
        by = {"sector": rows.explode("sectors").rename(columns={"sectors": "sector"})}
        by = {
            d: pd.crosstab((by.get(d, rows))["investor"], (by.get(d, rows))[d]).reindex(investors, fill_value=0)
            for d in SEED_COUNT_WEIGHTS
        }
        return cls(investors, by)

    def ranking(self, round_: HeldOutRound) -> list[str]:
        wanted = {
            "sector": round_.sectors,
            "stage": [round_.round_type],
            "geography": [round_.country],
            "check": list(_check_bin(pd.Series([round_.check_usd])).dropna()),
        }
        score = np.zeros(len(self.investors))
        for dimension, weight in SEED_COUNT_WEIGHTS.items():
            counts = self.by[dimension]
            columns = [v for v in wanted[dimension] if v in counts.columns]
            if columns:
                score += weight * counts[columns].to_numpy().sum(axis=1)
        order = np.lexsort((self.investors, -score))[:K]
        return list(self.investors[order])


def _check_bin(checks: pd.Series) -> pd.Series:
    """Checks in factor-of-two bins, so "the same size" means within a factor of about two."""
    checks = pd.to_numeric(checks, errors="coerce").astype(float)
    return np.floor(np.log2(checks.where(checks > 0)))


def _merge(*rankings: Iterable[str]) -> list[str]:
    """The rankings' items in turn, first occurrence wins, cut at K."""
    seen: dict[str, None] = {}
    for ranking in rankings:
        for item in ranking:
            seen.setdefault(item)
            if len(seen) >= K:
                return list(seen)
    return list(seen)


def _syndicates(conn: psycopg.Connection, companies: list[str]) -> dict[str, list[str]]:
    """Per company: its pre-cut investors (most rounds first), then their co-investors by shared rounds."""
    rows = conn.execute(
        """
        WITH backers AS (
          SELECT c.source_id AS company, i.investor_id, count(*) AS rounds
          FROM investments i JOIN funding_rounds r ON r.id = i.funding_round_id
          JOIN companies c ON c.id = r.company_id
          WHERE i.deleted_at IS NULL AND r.deleted_at IS NULL AND c.source_id = ANY(%s)
          GROUP BY c.source_id, i.investor_id
        ), co AS (
          SELECT company, other AS investor_id, sum(shared) AS strength FROM (
            SELECT b.company, p.investor_b_id AS other, p.shared_rounds AS shared
            FROM backers b JOIN co_investor_pairs p ON p.investor_a_id = b.investor_id
            UNION ALL
            SELECT b.company, p.investor_a_id, p.shared_rounds
            FROM backers b JOIN co_investor_pairs p ON p.investor_b_id = b.investor_id) pairs
          GROUP BY company, other
        ), ranked AS (
          SELECT company, investor_id, 0 AS tier, rounds AS strength FROM backers
          UNION ALL SELECT company, investor_id, 1, strength FROM co
        )
        SELECT r.company, v.source_id FROM ranked r JOIN investors v ON v.id = r.investor_id
        ORDER BY r.company, r.tier, r.strength DESC, v.source_id""",
        (companies,),
    ).fetchall()
    syndicates: dict[str, list[str]] = {}
    for company, source_id in rows:
        syndicates.setdefault(company, []).append(source_id)
    return {company: list(dict.fromkeys(ranked))[:K] for company, ranked in syndicates.items()}


def _ids(conn: psycopg.Connection, table: str, source_ids: Iterable[str]) -> dict[str, int]:
    rows = conn.execute(f"SELECT source_id, id FROM {table} WHERE source_id = ANY(%s)", (list(set(source_ids)),))
    return dict(rows.fetchall())


def _graph_query(company_ids: dict[str, int], round_: HeldOutRound, as_of: date) -> GraphQuery:
    return GraphQuery(
        company_ids.get(round_.company_source_id), round_.sectors, as_of, round_.check_usd, round_.round_type
    )


def ranking_filters(as_of: date) -> Filters:
    """The rankings' hard filters: the default recency window, counted back from the cut."""
    return Filters(recency_months=24, as_of=as_of)


POSITIVE_FEEDBACK = ("thumbs_up", "meeting_booked", "check_received")  # pass and thumbs_down are negatives


@dataclass
class FeedbackExamples:
    """Model inputs of investors users judged in find_investors runs (each row widened among its run's
    candidates, as it was ranked), and whether the judgement was positive."""

    inputs: np.ndarray
    labels: np.ndarray

    @classmethod
    def none(cls) -> FeedbackExamples:
        return cls(np.zeros((0, len(INPUTS))), np.zeros(0, dtype=bool))


def feedback_examples(conn: psycopg.Connection) -> FeedbackExamples:
    """Every judged (run, investor) of ``conn``'s ``feedback``, featurized as the graph variant featurizes
    that run's query (its texts, filters, company and date), the latest judgement of a pair winning. One
    candidate query per judged run: feedback is made by people, so it stays small."""
    judged = conn.execute(
        "SELECT DISTINCT ON (f.run_id, f.investor_id) f.run_id, f.investor_id, f.signal, r.tool_input"
        " FROM feedback f JOIN runs r ON r.id = f.run_id ORDER BY f.run_id, f.investor_id, f.id DESC"
    ).fetchall()
    if not judged:
        return FeedbackExamples.none()
    embedder = _embedder()
    rows, labels = [], []
    for _, of_run in itertools.groupby(judged, key=lambda row: row[0]):  # ordered by run
        of_run = list(of_run)
        tool_input = of_run[0][3]
        filters = Filters(**{**tool_input["filters"], "as_of": _date(tool_input["filters"].get("as_of"))})
        graph = GraphQuery(
            tool_input.get("company_id"),
            tool_input.get("company_sectors") or [],
            filters.as_of,
            tool_input.get("company_check_usd"),
            tool_input.get("company_stage"),
        )
        ids, features = graph_candidates(conn, embedder, tool_input["thesis"], filters, graph)
        inputs = query_inputs(features)
        position = {investor_id: i for i, investor_id in enumerate(ids)}
        for _, investor_id, signal, _ in of_run:
            if investor_id in position:  # an investor the query no longer finds has no features to learn from
                rows.append(inputs[position[investor_id]])
                labels.append(signal in POSITIVE_FEEDBACK)
    if not rows:
        return FeedbackExamples.none()
    return FeedbackExamples(np.vstack(rows), np.asarray(labels))


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def fit_model(
    conn: psycopg.Connection,
    rounds: list[HeldOutRound],
    as_of: date,
    labels_until: date,
    feedback: FeedbackExamples | None = None,
) -> RankingModel:
    """Logistic regression over the graph variant's candidates of ``rounds`` (each labelled by whether it
    invested in the round), with features from a database built as of ``as_of``, before every round; plus
    ``feedback``'s judged investors as further positives and negatives."""
    from sklearn.linear_model import LogisticRegression

    if not rounds:
        raise ValueError(
            f"no rounds to learn from after {as_of} with an investor known by then; "
            "choose an earlier cut or more training months"
        )
    embedder = _embedder()
    company_ids = _ids(conn, "companies", (r.company_source_id for r in rounds))
    investor_ids = _ids(conn, "investors", (s for r in rounds for s in r.answer))
    blocks, labels = [], []
    for round_ in rounds:
        ids, features = graph_candidates(
            conn, embedder, round_.texts, ranking_filters(as_of), _graph_query(company_ids, round_, as_of)
        )
        positives = {investor_ids[s] for s in round_.answer if s in investor_ids}
        blocks.append(query_inputs(features))
        labels.extend(i in positives for i in ids)
    feedback = feedback or FeedbackExamples.none()
    inputs, labels = np.vstack([*blocks, feedback.inputs]), np.concatenate([labels, feedback.labels]).astype(bool)
    means, scales = inputs.mean(axis=0), inputs.std(axis=0)
    scales = np.where(scales > 0, scales, 1.0)
    fitted = LogisticRegression(max_iter=3000, C=REGULARIZATION).fit((inputs - means) / scales, labels)
    trained = {
        "rounds": len(rounds),
        "candidates": len(labels),
        "positives": int(labels.sum()),
        "features_as_of": str(as_of),
        "labels_from": str(as_of),
        "labels_until": str(labels_until),
        "feedback": len(feedback.labels),
        "feedback_positives": int(feedback.labels.sum()),
    }
    return RankingModel(
        tuple(float(w) for w in fitted.coef_[0]),
        tuple(float(m) for m in means),
        tuple(float(v) for v in scales),
        f"graph-lr-{as_of}",
        trained,
    )


def _embedder():
    from invest_assets.resources.factories import embedder_resource, resolved

    return resolved(embedder_resource())


def find_investors_ranker(
    conn: psycopg.Connection, cut: date, rounds: list[HeldOutRound], variant: str, model: RankingModel | None = None
) -> Ranker:
    embedder = _embedder()
    company_ids = _ids(conn, "companies", (r.company_source_id for r in rounds))

    def rank(round_: HeldOutRound) -> list[str]:
        if not round_.texts and variant != "graph":  # the text variants have nothing to search with
            return []
        result = find_investors(
            conn,
            embedder,
            round_.texts,
            ranking_filters(cut),
            user="evaluate",
            limit=K,
            variant=variant,
            graph=_graph_query(company_ids, round_, cut),
            model=model,
        )
        return [investor["source_id"] for investor in result.investors]

    return rank


def _sample(rounds: list[HeldOutRound], size: int | None, seed: int) -> list[HeldOutRound]:
    if size is None or len(rounds) <= size:
        return rounds
    picked = np.random.default_rng(seed).choice(len(rounds), size=size, replace=False)
    return [rounds[i] for i in sorted(picked)]


def _history(conn: psycopg.Connection) -> set[str]:
    return {
        row[0]
        for row in conn.execute("SELECT source_id FROM investors WHERE deleted_at IS NULL AND total_investments > 0")
    }


def learn(
    source: Path,
    cut: date,
    workdir: Path,
    train_months: int,
    max_rounds: int | None,
    seed: int,
    feedback: FeedbackExamples | None = None,
) -> RankingModel:
    """Fit the graph model on the rounds of the ``train_months`` before ``cut``, with features from a
    build as of their start: neither features nor labels see the cut or anything after it."""
    start = (pd.Timestamp(cut) - pd.DateOffset(months=train_months)).date()
    with AlloyDBResource(url=build_as_of(source, workdir / "train", start)).connection() as conn:
        rounds = _sample(held_out_rounds(source, start, cut, _history(conn)), max_rounds, seed)
        return fit_model(conn, rounds, start, cut, feedback)


def evaluate(
    source: Path,
    cut: date,
    until: date,
    workdir: Path,
    max_rounds: int | None = None,
    seed: int = 0,
    train_months: int = 12,
    feedback: FeedbackExamples | None = None,
) -> Evaluation:
    """The backtest; ``feedback`` (users' judgements, from the serving database) joins the fit's labels."""
    model = learn(source, cut, workdir, train_months, max_rounds, seed, feedback)
    url = build_as_of(source, workdir / "test", cut)
    with AlloyDBResource(url=url).connection() as conn:  # pgvector's types registered, as the CLI's
        rounds = _sample(held_out_rounds(source, cut, until, _history(conn)), max_rounds, seed)
        companies = sorted({round_.company_source_id for round_ in rounds})
        simple = baselines(conn, companies, seed)
        rankers = {
            **simple,
            "find_investors rerank (seed weights)": find_investors_ranker(conn, cut, rounds, "rerank"),
            LEARNED: find_investors_ranker(conn, cut, rounds, "graph", model),
        }
        evaluation = Evaluation(cut, until, len(rounds), model=model)
        rng = np.random.default_rng(seed)
        recalls = {}
        for name, ranker in rankers.items():
            scores = [(round_.follow_on, score(ranker(round_), round_.answer)) for round_ in rounds]
            recalls[name] = np.array([s["recall@25"] for _, s in scores])
            evaluation.rankings[name] = {
                split: {
                    metric: summarize([s[metric] for follow_on, s in scores if keep(follow_on)], rng)
                    for metric in METRICS
                }
                for split, keep in SPLITS
            }
        follow_on = np.array([round_.follow_on for round_ in rounds], dtype=bool)
        evaluation.margins = lead_over(recalls, follow_on, simple, rng)
    return evaluation
