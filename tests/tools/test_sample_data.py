"""The sample generator: deterministic, valid by the contract, and realistic where it matters."""

import json
import re
from collections import Counter

import numpy as np
import pandas as pd
import pycountry
import pytest

from invest_assets.sources.local_files import read_local_table
from invest_assets.sources.schema import TABLES
from invest_assets.sources.validation import validate_chunk
from invest_assets.tools.sample_data import generate_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    counts = generate_sample(out, investors=600, companies=800, rounds=2500, seed=3)
    return out, counts


def test_same_arguments_give_byte_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate_sample(a, investors=50, companies=60, rounds=100, seed=11)
    generate_sample(b, investors=50, companies=60, rounds=100, seed=11)
    for table in TABLES:
        assert (a / f"{table}.csv").read_bytes() == (b / f"{table}.csv").read_bytes()


def test_every_row_is_valid_and_every_reference_resolves(sample):
    out, counts = sample
    frames = {}
    for table, spec in TABLES.items():
        frame = pd.concat(list(read_local_table(out, table)))
        assert list(frame.columns) == list(spec.column_names)
        assert validate_chunk(spec, frame).rejects == []
        assert len(frame) == counts[table]
        frames[table] = frame
    investors = set(frames["investors"]["source_id"])
    assert set(frames["funding_rounds"]["company_source_id"]) <= set(frames["companies"]["source_id"])
    assert set(frames["funding_rounds"]["lead_investor_source_id"]) <= investors
    assert set(frames["investments"]["funding_round_source_id"]) <= set(frames["funding_rounds"]["source_id"])
    assert set(frames["investments"]["investor_source_id"]) <= investors
    assert {f for f in frames["investors"]["firm_source_id"] if f} <= investors
    pairs = frames["investments"][["funding_round_source_id", "investor_source_id"]]
    assert not pairs.duplicated().any()


def test_heavy_tails_in_round_size_and_popularity(tmp_path):
    generate_sample(tmp_path)  # the default size
    investments = pd.read_csv(tmp_path / "investments.csv")
    per_round = investments.groupby("funding_round_source_id").size()
    assert per_round.median() <= 3 and per_round.max() >= 30
    per_investor = investments.groupby("investor_source_id").size()
    assert per_investor.max() > 10 * per_investor.median()
    rounds = pd.read_csv(tmp_path / "funding_rounds.csv", keep_default_na=False)
    dates = rounds["announced_at"]
    assert (dates == "").any() and dates.str.endswith("-01").any() and dates.str.endswith("-31").any()


def _bags_of_words(texts: list[str]) -> np.ndarray:
    """Rows of word counts, scaled to unit length, so a dot product is the cosine."""
    tokens = [Counter(re.findall(r"[a-z]+", text.lower())) for text in texts]
    vocabulary = {w: k for k, w in enumerate(sorted(set().union(*tokens)))}
    counts = np.zeros((len(texts), len(vocabulary)))
    for row, bag in enumerate(tokens):
        for word, count in bag.items():
            counts[row, vocabulary[word]] = count
    return counts / np.linalg.norm(counts, axis=1, keepdims=True)


def test_investors_with_the_same_focus_share_vocabulary(sample):
    out, _ = sample
    investors = pd.read_csv(out / "investors.csv", keep_default_na=False)
    investors = investors[investors["sector_text"] != ""]
    primary = investors["focus_sectors"].map(lambda s: json.loads(s)[0])
    bags = _bags_of_words(investors["sector_text"].tolist())
    cosines = bags @ bags.T
    same_focus = primary.to_numpy()[:, None] == primary.to_numpy()[None, :]
    off_diagonal = ~np.eye(len(bags), dtype=bool)
    same, different = cosines[same_focus & off_diagonal], cosines[~same_focus]
    assert same.mean() > 2 * different.mean()


def test_cells_use_the_local_source_formats(sample):
    out, _ = sample
    investors = pd.read_csv(out / "investors.csv", dtype=str, keep_default_na=False)
    unstated = investors["focus_sectors"] == ""  # left to the graph-derived profile
    assert 0.2 < unstated.mean() < 0.4 and (investors.loc[unstated, "sector_text"] == "").all()
    investors = investors[~unstated]
    countries = {c.alpha_2 for c in pycountry.countries}
    for column in ("preferred_stages", "focus_sectors", "geographies"):
        lists = investors[column].map(json.loads)
        assert lists.map(lambda items: isinstance(items, list) and 1 <= len(items) <= 4).all()
    assert set().union(*investors["geographies"].map(json.loads)) <= countries
    assert set(investors["active"]) == {"true", "false"}
    assert set(investors["is_lead_capable"]) == {"true", "false", ""}
    assert set(investors["kind"]) == {"person", "firm"}
    assert set(investors["thesis_source"]) == {"web", "deck", "manual"}
    bounded = investors[investors["check_size_max_usd"] != ""]
    assert (bounded["check_size_min_usd"].astype(int) <= bounded["check_size_max_usd"].astype(int)).all()
    assert (investors["check_size_max_usd"] == "").any()
    rounds = pd.read_csv(out / "funding_rounds.csv", dtype=str, keep_default_na=False)
    dated = rounds["announced_at"][rounds["announced_at"] != ""]
    assert dated.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert dated.min() >= "2013-01-01" and dated.max() <= "2025-12-31"
    for table in TABLES:
        text = (out / f"{table}.csv").read_text()
        assert "\x00" not in text
        stamps = pd.read_csv(out / f"{table}.csv", dtype=str)["updated_at"]
        assert stamps.str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00").all()


def test_investors_only_gives_valid_empty_files_for_the_other_tables(tmp_path):
    counts = generate_sample(tmp_path, investors=40, companies=0, rounds=0)
    assert counts == {"companies": 0, "investors": 40, "funding_rounds": 0, "investments": 0, "investor_documents": 0}
    for table, spec in TABLES.items():
        header = (tmp_path / f"{table}.csv").read_text().splitlines()[0]
        assert header.split(",") == list(spec.column_names)
