"""A deterministic, realistic sample dataset in the local source format.

Investors have a sector focus, a window of adjacent stages, geographies, check sizes
that fit their stages, and six per-dimension texts drawn from per-sector, per-stage and
per-region vocabularies, so investors with the same focus share words and dissimilar
ones share few. Rounds pick their investors preferring a matching sector, with heavy
tails in both round size and investor popularity, so co-investment clusters exist.
Same arguments, byte-identical files: everything comes from one seeded generator.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from invest_assets.sources.schema import PROFILE_COLUMNS, TABLES

SECTORS = {
    "fintech": "payments lending banking ledger compliance fraud card treasury",
    "healthtech": "patients clinics telehealth care records diagnostics wellness providers",
    "medtech": "devices surgical imaging implants sensors clinical regulatory hospital",
    "biotech": "therapeutics molecules drug discovery genomics antibodies trials biology",
    "climate": "carbon energy decarbonization grid batteries emissions renewable solar",
    "ai_infra": "models inference training gpus datasets agents llm compute",
    "devtools": "developers apis open source ci testing observability sdk code",
    "cybersecurity": "security threats identity zero trust endpoint encryption breach soc",
    "consumer": "brands shoppers subscription community creators lifestyle retail mobile",
    "edtech": "learning students teachers courses tutoring skills classrooms curriculum",
    "marketplaces": "buyers sellers liquidity supply demand matching transactions platform",
    "robotics": "robots automation manipulation autonomy warehouses hardware actuators vision",
    "proptech": "real estate property landlords tenants mortgages construction homes leasing",
    "insurtech": "insurance underwriting claims policies risk premiums actuarial brokers",
    "logistics": "shipping freight fleets supply chain warehousing delivery routing trucking",
    "gaming": "games players studios esports engines multiplayer streaming virtual",
    "agtech": "farms crops agriculture soil yield food irrigation growers",
    "hr_tech": "hiring recruiting payroll workforce employees talent benefits onboarding",
    "legaltech": "legal contracts lawyers litigation compliance documents courts firms",
    "web3": "blockchain tokens crypto defi wallets protocols onchain decentralized",
}
STAGES = ("pre_seed", "seed", "series_a", "series_b", "series_c", "growth")
STAGE_WORDS = {
    "pre_seed": "idea prototype first check earliest napkin conviction",
    "seed": "product market fit early traction first hires initial revenue",
    "series_a": "scaling go to market repeatable sales growth team",
    "series_b": "expansion market leadership efficient growth new segments",
    "series_c": "late stage category leader international expansion",
    "growth": "pre ipo profitability durable growth secondary liquidity",
}
STAGE_CHECKS = {  # typical (min, max) check in USD
    "pre_seed": (25_000, 250_000),
    "seed": (100_000, 2_000_000),
    "series_a": (1_000_000, 10_000_000),
    "series_b": (5_000_000, 30_000_000),
    "series_c": (10_000_000, 60_000_000),
    "growth": (20_000_000, 150_000_000),
}
ROUND_TYPES = {"pre_seed": 0.15, "seed": 0.35, "series_a": 0.25, "series_b": 0.13, "series_c": 0.07, "growth": 0.05}
REGIONS = {  # country: (weight, region words, cities)
    "US": (0.45, "north america silicon valley new york united states", ("San Francisco", "New York", "Austin")),
    "CA": (0.04, "north america canada toronto", ("Toronto", "Vancouver")),
    "GB": (0.08, "europe united kingdom london", ("London", "Manchester")),
    "DE": (0.05, "europe germany dach berlin", ("Berlin", "Munich")),
    "FR": (0.04, "europe france paris", ("Paris", "Lyon")),
    "IN": (0.07, "asia india bangalore emerging markets", ("Bangalore", "Mumbai")),
    "SG": (0.04, "asia southeast asia singapore", ("Singapore",)),
    "BR": (0.04, "latin america brazil sao paulo", ("Sao Paulo", "Rio de Janeiro")),
    "MX": (0.02, "latin america mexico", ("Mexico City",)),
    "IL": (0.04, "middle east israel tel aviv", ("Tel Aviv",)),
    "SE": (0.03, "europe nordics sweden stockholm", ("Stockholm",)),
    "NL": (0.03, "europe netherlands amsterdam", ("Amsterdam",)),
    "NG": (0.02, "africa nigeria lagos emerging markets", ("Lagos",)),
    "JP": (0.03, "asia japan tokyo", ("Tokyo",)),
    "AU": (0.02, "asia pacific australia sydney", ("Sydney",)),
}
SIGNALS = (
    "mission driven",
    "deep technical moats",
    "network effects",
    "capital efficiency",
    "category creation",
    "climate impact",
    "contrarian bets",
    "community led growth",
    "regulated markets",
    "open source distribution",
)
FOUNDERS = (
    "technical founders",
    "repeat founders",
    "domain experts",
    "first time founders",
    "operators from big tech",
    "phd researchers",
    "underrepresented founders",
    "solo founders",
    "immigrant founders",
    "student founders",
)
COMPANY_STATUS = {"active": 0.8, "acquired": 0.12, "shutdown": 0.06, "ipo": 0.02}
SECTOR_OPENERS = ("We invest in", "Focused on", "Backing", "Our thesis centers on", "Conviction in", "Thesis:")
STAGE_OPENERS = ("We write", "Typically", "Entry point", "Most active at", "Comfortable with")
FIRST_DAY, LAST_DAY = date(2013, 1, 1), date(2025, 12, 31)
NULL_TEXT_RATE = 0.03
# Investors whose source states no thesis at all (no texts, no typed preferences): the
# investor_profiles asset derives theirs from their rounds, as for real sources.
GRAPH_PROFILED_SHARE = 0.3
STATED_PROFILE_COLUMNS = (*PROFILE_COLUMNS, "thesis_summary", "thesis_summary_long", "thesis_source", "thesis_model")


def _json(items) -> str:
    return json.dumps(list(items))


def _timestamps(rng: np.random.Generator, n: int) -> list[str]:
    seconds = rng.integers(0, 365 * 86_400, size=n)
    stamps = pd.Timestamp("2025-01-01T00:00:00+00:00") + pd.to_timedelta(seconds, unit="s")
    return stamps.strftime("%Y-%m-%dT%H:%M:%S+00:00").tolist()


def _maybe_null(rng: np.random.Generator, texts: list[str]) -> list[str]:
    drop = rng.random(len(texts)) < NULL_TEXT_RATE
    return ["" if d else t for t, d in zip(texts, drop, strict=True)]


def _ranked(rng: np.random.Generator, shape: tuple[int, ...], weights: np.ndarray) -> list:
    """Per row, option indices in a random order without replacement, weighted (Gumbel top-k)."""
    keys = np.log(weights) + rng.gumbel(size=(*shape, len(weights)))
    return np.argsort(-keys, axis=-1).tolist()


def _words_in_order(words: list[str], order: list[int], k: int) -> str:
    return " ".join([words[j] for j in order if j < len(words)][:k])


def _investors(rng: np.random.Generator, n: int) -> pd.DataFrame:
    sector_names = list(SECTORS)
    countries = list(REGIONS)
    country_weights = np.array([REGIONS[c][0] for c in countries])
    sector_words = [SECTORS[s].split() for s in sector_names]
    stage_words = [STAGE_WORDS[s].split() for s in STAGES]
    region_words = [REGIONS[c][1].split() for c in countries]
    longest = max(len(w) for w in sector_words + stage_words + region_words)
    # Every random draw is made up front for all investors; the loop below only formats.
    kinds = np.where(rng.random(n) < 0.6, "firm", "person")
    firm_ids = np.flatnonzero(kinds == "firm")
    sector_order = _ranked(rng, (n,), np.ones(len(sector_names)))
    sector_counts = rng.integers(1, 4, size=n).tolist()
    first_stages = rng.integers(0, len(STAGES), size=n).tolist()
    stage_widths = rng.integers(1, 4, size=n).tolist()
    geo_order = _ranked(rng, (n,), country_weights)
    geo_counts = rng.integers(1, 5, size=n).tolist()
    signal_order = _ranked(rng, (n,), np.ones(len(SIGNALS)))
    founder_order = _ranked(rng, (n,), np.ones(len(FOUNDERS)))
    word_order = _ranked(rng, (n, 3), np.ones(longest))  # per sector/stage slot: which words, in what order
    geo_word_order = _ranked(rng, (n, 4), np.ones(longest))
    firm_pick = (rng.choice(firm_ids, size=n) if len(firm_ids) else np.zeros(n, dtype=int)).tolist()
    has_firm = (rng.random(n) < 0.8).tolist()
    draws = rng.random((n, 5)).tolist()  # twitter, inactive, max empty, lead stated, lead style
    sector_openers = rng.integers(0, len(SECTOR_OPENERS), size=n).tolist()
    stage_openers = rng.integers(0, len(STAGE_OPENERS), size=n).tolist()
    thesis_sources = rng.choice(["web", "deck", "manual"], size=n).tolist()
    rows = []
    for i in range(n):
        is_firm = kinds[i] == "firm"
        sector_idx = sector_order[i][: sector_counts[i]]
        sectors = [sector_names[s] for s in sector_idx]
        stage_idx = list(range(first_stages[i], min(len(STAGES), first_stages[i] + stage_widths[i])))
        stages = [STAGES[s] for s in stage_idx]
        geo_idx = geo_order[i][: geo_counts[i]]
        geos = [countries[g] for g in geo_idx]
        low, high = STAGE_CHECKS[stages[0]][0], STAGE_CHECKS[stages[-1]][1]
        signal = [SIGNALS[s] for s in signal_order[i][:2]]
        founder = [FOUNDERS[f] for f in founder_order[i][:2]]
        twitter, inactive, max_empty, stated, leads = draws[i]
        sector_labels = ", ".join(s.replace("_", " ") for s in sectors)
        rows.append(
            {
                "source_id": f"inv-{i:06d}",
                "name": f"{sectors[0].replace('_', ' ').title()} {'Ventures' if is_firm else 'Partner'} {i}",
                "kind": kinds[i],
                "firm_source_id": f"inv-{firm_pick[i]:06d}" if not is_firm and len(firm_ids) and has_firm[i] else "",
                "linkedin_url": f"https://www.linkedin.com/in/investor-{i}",
                "twitter_handle": f"@investor{i}" if twitter < 0.5 else "",
                "domain": f"investor{i}.vc" if is_firm else "",
                "active": "false" if inactive < 0.08 else "true",
                "check_size_min_usd": str(low),
                "check_size_max_usd": "" if max_empty < 0.15 else str(high),
                "preferred_stages": _json(stages),
                "focus_sectors": _json(sectors),
                "geographies": _json(geos),
                "is_lead_capable": "" if stated < 0.6 else ("true" if stated < 0.85 else "false"),
                "thesis_summary": f"Backs {sector_labels} companies at "
                f"{' to '.join(dict.fromkeys([stages[0], stages[-1]]))} in {', '.join(geos)}.",
                "thesis_summary_long": " ".join(
                    _words_in_order(sector_words[s], word_order[i][slot], 6) for slot, s in enumerate(sector_idx)
                ),
                "thesis_source": thesis_sources[i],
                "thesis_model": "sonnet-4-6",
                "sector_text": f"{SECTOR_OPENERS[sector_openers[i]]} {sector_labels}: "
                + "; ".join(
                    _words_in_order(sector_words[s], word_order[i][slot][::-1], 5) for slot, s in enumerate(sector_idx)
                ),
                "stage_text": f"{STAGE_OPENERS[stage_openers[i]]} {', '.join(s.replace('_', ' ') for s in stages)}: "
                + "; ".join(
                    _words_in_order(stage_words[s], word_order[i][slot], 4) for slot, s in enumerate(stage_idx)
                ),
                "check_text": f"Checks from ${low:,} to ${high:,}, "
                + ("leading or co-leading rounds" if leads < 0.5 else "following a trusted lead"),
                "geography_text": "Active in "
                + "; ".join(
                    _words_in_order(region_words[g], geo_word_order[i][slot], 3) for slot, g in enumerate(geo_idx)
                ),
                "signal_text": f"Excited by {signal[0]} and {signal[1]} in {sectors[0].replace('_', ' ')}",
                "founder_text": f"We back {founder[0]} and {founder[1]}",
            }
        )
    frame = pd.DataFrame(rows, columns=[c for c in TABLES["investors"].column_names if c != "updated_at"])
    for column in ("sector_text", "stage_text", "check_text", "geography_text", "signal_text", "founder_text"):
        frame[column] = _maybe_null(rng, frame[column].tolist())
    frame["updated_at"] = _timestamps(rng, n)
    return frame


def _companies(rng: np.random.Generator, m: int) -> pd.DataFrame:
    sector_names = list(SECTORS)
    countries = list(REGIONS)
    weights = np.array([REGIONS[c][0] for c in countries])
    statuses = list(COMPANY_STATUS)
    sector_words = [SECTORS[s].split() for s in sector_names]
    # Every draw is made up front for all companies (as in _investors); the loop only formats.
    sector_order = _ranked(rng, (m,), np.ones(len(sector_names)))
    sector_counts = rng.integers(1, 3, size=m).tolist()
    country_idx = rng.choice(len(countries), size=m, p=weights / weights.sum()).tolist()
    city_draws = rng.random(m).tolist()
    founded = rng.integers(2000, 2024, size=m).tolist()
    status_idx = rng.choice(len(statuses), size=m, p=list(COMPANY_STATUS.values())).tolist()
    word_order = _ranked(rng, (m,), np.ones(max(len(w) for w in sector_words)))
    rows = []
    for j in range(m):
        sectors = [sector_names[s] for s in sector_order[j][: sector_counts[j]]]
        country = countries[country_idx[j]]
        cities = REGIONS[country][2]
        rows.append(
            {
                "source_id": f"co-{j:06d}",
                "name": f"{sectors[0].replace('_', ' ').title()} Co {j}",
                "domain": f"company{j}.com",
                "hq_country": country,
                "hq_region": REGIONS[country][1].split()[0],
                "hq_city": cities[int(city_draws[j] * len(cities))],
                "founded_year": str(founded[j]),
                "primary_sector": sectors[0],
                "sectors": _json(sectors),
                "status": statuses[status_idx[j]],
                "description": f"{sectors[0].replace('_', ' ').title()} company building "
                f"{_words_in_order(sector_words[sector_order[j][0]], word_order[j], 4)}",
            }
        )
    frame = pd.DataFrame(rows, columns=[c for c in TABLES["companies"].column_names if c != "updated_at"])
    frame["updated_at"] = _timestamps(rng, m)
    return frame


def _announced_dates(rng: np.random.Generator, r: int) -> list[str]:
    span = (LAST_DAY - FIRST_DAY).days
    days = np.datetime64(FIRST_DAY, "D") + rng.integers(0, span + 1, size=r)
    edge = rng.random(r)
    first_of_month = days.astype("datetime64[M]").astype("datetime64[D]")
    last_of_month = (days.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
    days = np.where(edge < 0.02, first_of_month, np.where(edge < 0.04, last_of_month, days))  # partition boundaries
    return np.where(edge > 0.99, "", np.datetime_as_string(days, unit="D")).tolist()


def _round_sizes(rng: np.random.Generator, r: int) -> np.ndarray:
    """Investors per round: mostly 1-5, a heavy tail, and a few very large syndicates."""
    sizes = np.minimum(rng.zipf(2.0, size=r), 25)
    huge = rng.random(r) < 0.005
    sizes[huge] = rng.integers(30, 61, size=int(huge.sum()))
    return sizes


def _syndicates(rng: np.random.Generator, sizes: np.ndarray, pools: list[np.ndarray], weights: np.ndarray, pool_of):
    """For each round k, ``sizes[k]`` distinct investors from ``pools[pool_of[k]]``, drawn one after
    another with probability proportional to ``weights`` (the first is the lead).

    Drawing with replacement and keeping first occurrences is that same draw, so each pool is
    sampled at once by inverse CDF; the few rounds whose oversample holds too few distinct
    investors are drawn again directly.
    """
    rounds, members = [], []
    for p, pool in enumerate(pools):
        ks = np.flatnonzero(pool_of == p)
        if not len(ks):
            continue
        cdf = np.cumsum(weights[pool])
        draws = 2 * sizes[ks] + 4
        round_of_draw = np.repeat(ks, draws)
        picked = pool[np.minimum(np.searchsorted(cdf, rng.random(draws.sum()) * cdf[-1], side="right"), len(pool) - 1)]
        rounds.append(round_of_draw)
        members.append(picked)
    draws = pd.DataFrame({"round": np.concatenate(rounds), "investor": np.concatenate(members)})
    draws = draws.drop_duplicates()  # keeps each investor's first draw, in order
    draws = draws[draws.groupby("round").cumcount() < sizes[draws["round"].to_numpy()]]
    short = np.flatnonzero(np.bincount(draws["round"], minlength=len(sizes)) < sizes)
    redrawn = []
    for k in short:
        pool = pools[pool_of[k]]
        chosen = rng.choice(pool, size=int(sizes[k]), replace=False, p=weights[pool] / weights[pool].sum())
        redrawn.append(pd.DataFrame({"round": k, "investor": chosen}))
    draws = pd.concat([draws[~draws["round"].isin(short)], *redrawn])
    return draws.sort_values("round", kind="stable").reset_index(drop=True)


def _rounds_and_investments(
    rng: np.random.Generator, r: int, companies: pd.DataFrame, investors: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if r == 0 or companies.empty or investors.empty:
        return (
            pd.DataFrame(columns=list(TABLES["funding_rounds"].column_names)),
            pd.DataFrame(columns=list(TABLES["investments"].column_names)),
        )
    n = len(investors)
    sector_names = list(SECTORS)
    popularity = rng.pareto(1.2, size=n) + 1.0
    focus = investors["focus_sectors"].reset_index(drop=True).map(json.loads).explode()
    pools = [np.unique(focus.index[focus == s]) for s in sector_names] + [np.arange(n)]  # the last: everyone
    company_idx = rng.integers(0, len(companies), size=r)
    round_types = rng.choice(list(ROUND_TYPES), size=r, p=list(ROUND_TYPES.values()))
    sizes = np.minimum(_round_sizes(rng, r), n)
    dates = _announced_dates(rng, r)
    sector_idx = companies["primary_sector"].map(sector_names.index).to_numpy()[company_idx]
    pool_sizes = np.array([len(pool) for pool in pools])
    in_sector = (rng.random(r) < 0.75) & (pool_sizes[sector_idx] >= sizes)
    draws = _syndicates(rng, sizes, pools, popularity, np.where(in_sector, sector_idx, len(sector_names)))
    low, high = np.array([STAGE_CHECKS[t] for t in round_types]).T
    amounts = np.clip(rng.lognormal(np.log(np.sqrt(low * high) * 2), 0.6), low, high * 4).astype(np.int64)
    round_ids = np.array([f"rd-{k:06d}" for k in range(r)], dtype=object)
    investor_ids = investors["source_id"].to_numpy()
    round_of = draws["round"].to_numpy()
    is_lead = (draws.groupby("round").cumcount() == 0).to_numpy()
    leads = np.empty(r, dtype=object)
    leads[round_of[is_lead]] = investor_ids[draws["investor"].to_numpy()[is_lead]]
    rounds = pd.DataFrame(
        {
            "source_id": round_ids,
            "company_source_id": companies["source_id"].to_numpy()[company_idx],
            "round_type": round_types,
            "announced_at": dates,
            "amount_usd": np.where(rng.random(r) < 0.05, "", amounts.astype(str)),
            "lead_investor_source_id": leads,
        }
    )
    rounds["updated_at"] = _timestamps(rng, r)
    # Each round's amount split among its investors by a flat Dirichlet: normalized exponentials.
    weights = rng.exponential(size=len(draws))
    shares = weights / np.bincount(round_of, weights=weights, minlength=r)[round_of] * amounts[round_of]
    investments = pd.DataFrame(
        {
            "funding_round_source_id": round_ids[round_of],
            "investor_source_id": investor_ids[draws["investor"].to_numpy()],
            "is_lead": np.where(is_lead, "true", "false"),
            "amount_usd": np.where(rng.random(len(draws)) < 0.3, "", shares.astype(np.int64).astype(str)),
        }
    )
    investments["updated_at"] = _timestamps(rng, len(investments))
    return rounds, investments


def _leave_profiles_to_the_graph(rng: np.random.Generator, investors: pd.DataFrame) -> pd.DataFrame:
    """Blank every stated profile column of a share of the investors (after their rounds were drawn
    from their focus, so their history still shows it)."""
    unstated = rng.random(len(investors)) < GRAPH_PROFILED_SHARE
    investors = investors.copy()
    investors.loc[unstated, list(STATED_PROFILE_COLUMNS)] = ""
    return investors


def generate_sample(
    out_dir: Path, investors: int = 2000, companies: int = 5000, rounds: int = 10000, seed: int = 7
) -> dict[str, int]:
    """Write the four source tables as CSV into ``out_dir``; returns rows per table."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    investor_frame = _investors(rng, investors)
    company_frame = _companies(rng, companies)
    round_frame, investment_frame = _rounds_and_investments(rng, rounds, company_frame, investor_frame)
    investor_frame = _leave_profiles_to_the_graph(rng, investor_frame)
    frames = {
        "companies": company_frame,
        "investors": investor_frame,
        "funding_rounds": round_frame,
        "investments": investment_frame,
    }
    _write(out_dir, frames)
    return {table: len(frames.get(table, ())) for table in TABLES}


def _write(out_dir: Path, frames: dict[str, pd.DataFrame]) -> None:
    """Every contract table as CSV with the contract's columns; a table not in ``frames`` gets only its header."""
    for table, spec in TABLES.items():
        frame = frames.get(table, pd.DataFrame())
        frame.reindex(columns=list(spec.column_names)).to_csv(out_dir / f"{table}.csv", index=False)


def write_many_investors(directory: Path, n: int, *, version: int = 1) -> Path:
    """A large, valid source of investors only, fast at any size (for benches and fault tests).

    ``version`` changes every name and drops every tenth investor, so a load of version 2
    over version 1 updates, soft-deletes and keeps rows.
    """
    ids = np.arange(n)
    if version > 1:
        ids = ids[ids % 10 != 0]
    frame = pd.DataFrame(
        {
            "source_id": [f"inv{i}" for i in ids],
            "name": [f"Investor {i} v{version}" for i in ids],
            "kind": np.where(ids % 3 == 0, "person", "firm"),
            "check_size_min_usd": (ids % 50 + 1) * 100_000,
            "check_size_max_usd": (ids % 50 + 1) * 1_000_000,
            "preferred_stages": '["seed","series_a"]',
            "focus_sectors": '["fintech"]',
            "geographies": '["US","GB"]',
            "signal_text": [f"mission driven founders number {i} in fintech" for i in ids],
            "updated_at": "2024-01-01T00:00:00+00:00",
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory, {"investors": frame})
    return directory
