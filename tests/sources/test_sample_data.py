"""The sample generator: deterministic, valid by the contract, and realistic where it matters."""

import json
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from invest_assets.sources.local_files import read_local_table
from invest_assets.sources.sample_data import generate_sample
from invest_assets.sources.schema import TABLES
from invest_assets.sources.validation import validate_chunk


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


def _bag(text: str) -> Counter:
    return Counter(re.findall(r"[a-z]+", text.lower()))


def _cosine(a: Counter, b: Counter) -> float:
    dot = sum(a[w] * b[w] for w in a)
    return dot / (np.sqrt(sum(v * v for v in a.values())) * np.sqrt(sum(v * v for v in b.values())))


def test_investors_with_the_same_focus_share_vocabulary(sample):
    out, _ = sample
    investors = pd.read_csv(out / "investors.csv", keep_default_na=False)
    investors = investors[investors["sector_text"] != ""]
    primary = investors["focus_sectors"].map(lambda s: json.loads(s)[0])
    bags = investors["sector_text"].map(_bag).tolist()
    same, different = [], []
    rng = np.random.default_rng(0)
    for _ in range(2000):
        i, j = rng.integers(0, len(bags), size=2)
        if i != j:
            (same if primary.iat[i] == primary.iat[j] else different).append(_cosine(bags[i], bags[j]))
    assert np.mean(same) > 2 * np.mean(different)
