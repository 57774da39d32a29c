"""Crunchbase CSV exports converted to the local source layout (the four contract CSVs).

Two layouts are understood:

* the **bulk export** (``organizations.csv`` optional, ``funding_rounds.csv``,
  ``investments.csv``, ``investors.csv``), keyed by Crunchbase uuids; both the 2017
  column names (``funding_round_uuid``, ``company_uuid``, ``investor_name``) and the
  later ones (``uuid``, ``org_uuid``, ``name``) are accepted;
* the **2013 open data**: ``crunchbase-companies.csv`` and ``crunchbase-rounds.csv``
  (keyed by permalinks), plus an investor-to-company link file
  (``company_name,investor_name,funded_when,amount_usd``) keyed by names only.

The messy parts: files are decoded as UTF-8 when they are, else as Mac Roman (CR-only
files, like the 2013 export) or cp1252; CR-only and CRLF line endings are normalized;
exact duplicate rows are dropped (and counted); rows that disagree under one key are
kept, so the loader quarantines them as duplicates; blank amounts stay empty; names
become stable slug keys. Values that do not fit the contract (an unknown status, a
fractional amount) pass through unchanged, so validation quarantines them with a reason
instead of them vanishing here.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pycountry

from invest_assets.sources.schema import TABLES

STATUSES = {"operating": "active", "acquired": "acquired", "closed": "shutdown", "ipo": "ipo"}
SERIES_CODES = re.compile(r"^[a-j]$")
# Words that mark an investor name as a firm; anything else that looks like "First Last" is a person.
FIRM_WORDS = re.compile(
    r"\b(capital|ventures?|partners|partnership|fund|funds|llc|llp|inc|ltd|group|labs?|angels?|investments?|"
    r"management|holdings?|bank|equity|combinator|accelerator|incubator|advisors|associates|foundation|"
    r"corporation|corp|company|co|technologies|technology|network|investors|fonds|gmbh|sa|ag|vc|"
    r"university|trust|securities|financial|growth|seed|startups?)\b",
    re.IGNORECASE,
)
PERSON_NAME = re.compile(r"^[A-Z][\w'.-]*( [A-Z][\w'.-]*){1,3}$")


@dataclass
class ConversionReport:
    rows: dict[str, int] = field(default_factory=dict)
    # Rows identical to another one, in the export or once converted (e.g. one link listed twice).
    exact_duplicates_dropped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [", ".join(f"{t}={n}" for t, n in self.rows.items())]
        if any(self.exact_duplicates_dropped.values()):
            parts.append(
                "exact duplicates dropped: "
                + ", ".join(f"{t}={n}" for t, n in self.exact_duplicates_dropped.items() if n)
            )
        parts += [f"{k}={v}" for k, v in self.notes.items()]
        return "; ".join(parts)


# ---------------------------------------------------------------- reading


def legacy_encoding(raw: bytes) -> str:
    """The 8-bit encoding of a file that is not UTF-8. CR-only line endings mark a classic
    Mac file, whose bytes are Mac Roman (the 2013 Crunchbase export: 0x8E is 'é' in
    "Condé Nast", 0xAA is '™'); otherwise Windows cp1252."""
    return "mac_roman" if b"\r" in raw and b"\n" not in raw else "cp1252"


def decode_export(raw: bytes) -> str:
    """Text of an export file with LF line endings: UTF-8 when it is valid, else its legacy
    8-bit encoding, else latin-1 (which decodes any byte)."""
    for encoding in ("utf-8-sig", legacy_encoding(raw)):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_export_csv(path: Path, names: list[str] | None = None) -> pd.DataFrame:
    """Every cell as its exact string; ``names`` for files that have no header line."""
    return pd.read_csv(
        io.StringIO(decode_export(path.read_bytes())),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        header=None if names else "infer",
        names=names,
        skip_blank_lines=True,
    )


# ---------------------------------------------------------------- value mapping


def slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def name_key(kind: str, name: str) -> str:
    """A stable source_id for an entity known only by its name."""
    return f"{kind}-name/{slug(name) or 'blank'}"


def country_alpha2(code: str) -> str:
    """ISO alpha-3 (Crunchbase) to alpha-2; unknown codes pass through for validation to judge."""
    if len(code) != 3:
        return code
    country = pycountry.countries.get(alpha_3=code.upper())
    return country.alpha_2 if country else code


def amount(text: str) -> str:
    """Amounts come as '8500000' or '12700000.0'; whole floats become integers, anything else passes through."""
    text = text.strip().replace(",", "")
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() and "e" not in text.lower() else text


def round_type(kind: str, code: str = "") -> str:
    """'series-a', 'series-c+', ('venture', 'B') -> series_a, series_c_plus, series_b."""
    kind, code = kind.strip().lower(), code.strip().lower()
    if SERIES_CODES.match(code) and kind in ("venture", "series", ""):
        return f"series_{code}"
    if SERIES_CODES.match(kind):  # the 2013 API's round codes are bare letters
        return f"series_{kind}"
    return kind.replace("+", "_plus").replace("-", "_").replace(" ", "_")


def investor_kind(name: str, crunchbase_type: str = "") -> str:
    crunchbase_type = crunchbase_type.lower()
    if any(word in crunchbase_type for word in ("individual", "angel")) and "group" not in crunchbase_type:
        return "person"
    if crunchbase_type:
        return "firm"
    return "person" if PERSON_NAME.match(name) and not FIRM_WORDS.search(name) else "firm"


def json_list(values: pd.Series, split: str | None = None) -> pd.Series:
    def one(value: str) -> str:
        items = [v.strip() for v in (value.split(split) if split else [value]) if v.strip()]
        return json.dumps(items)

    return values.map(one)


def twitter_handle(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1].lstrip("@") if url else ""


def domain_of(url: str) -> str:
    return re.sub(r"^(https?://)?(www\.)?", "", url.strip()).split("/")[0].lower()


# ---------------------------------------------------------------- writing


def contract_frame(table: str, columns: dict[str, pd.Series | str], index: pd.Index) -> pd.DataFrame:
    """A frame with exactly the contract's columns; columns not given are empty."""
    frame = pd.DataFrame({name: columns.get(name, "") for name in TABLES[table].column_names}, index=index)
    return frame.fillna("").astype(str)


def write_tables(out: Path, frames: dict[str, pd.DataFrame], report: ConversionReport) -> ConversionReport:
    out.mkdir(parents=True, exist_ok=True)
    for table, frame in frames.items():
        before = len(frame)
        frame = frame.drop_duplicates()
        report.exact_duplicates_dropped[table] = report.exact_duplicates_dropped.get(table, 0) + before - len(frame)
        frame = frame.sort_values(list(TABLES[table].key_columns), kind="stable")
        frame.to_csv(out / f"{table}.csv", index=False, encoding="utf-8")
        report.rows[table] = len(frame)
    return report


def drop_exact_duplicates(table: str, frame: pd.DataFrame, report: ConversionReport) -> pd.DataFrame:
    deduplicated = frame.drop_duplicates()
    report.exact_duplicates_dropped[table] = len(frame) - len(deduplicated)
    return deduplicated


def pick(frame: pd.DataFrame, *names: str) -> pd.Series:
    """The first of ``names`` the export has (column names changed between export versions)."""
    for name in names:
        if name in frame.columns:
            return frame[name]
    return pd.Series("", index=frame.index)


# ---------------------------------------------------------------- bulk export


def convert_bulk_export(export_dir: Path, out: Path) -> ConversionReport:
    report = ConversionReport()
    rounds = drop_exact_duplicates("funding_rounds", read_export_csv(export_dir / "funding_rounds.csv"), report)
    links = drop_exact_duplicates("investments", read_export_csv(export_dir / "investments.csv"), report)
    investors = drop_exact_duplicates("investors", read_export_csv(export_dir / "investors.csv"), report)
    organizations_path = export_dir / "organizations.csv"
    organizations = read_export_csv(organizations_path) if organizations_path.exists() else None

    link_round, link_investor = pick(links, "funding_round_uuid"), pick(links, "investor_uuid")
    is_lead = (
        pick(links, "is_lead_investor")
        .str.lower()
        .map({"t": "true", "true": "true", "f": "false", "false": "false", "": ""})
    )
    leads = pd.DataFrame({"round": link_round, "investor": link_investor})[is_lead == "true"]
    # A lead the export has no investor row for would cost the whole round (an unknown reference);
    # the link itself keeps is_lead, and the count is reported.
    exported = leads["investor"].isin(pick(investors, "uuid"))
    report.notes["leads_not_in_investors"] = int((~exported).sum())
    first_lead = leads[exported].sort_values("investor").drop_duplicates("round").set_index("round")["investor"]
    round_ids = pick(rounds, "funding_round_uuid", "uuid")
    frames = {
        "companies": bulk_companies(rounds, organizations),
        "investors": contract_frame(
            "investors",
            {
                "source_id": pick(investors, "uuid"),
                "name": pick(investors, "investor_name", "name"),
                "kind": pd.Series(
                    [
                        investor_kind(n, t)
                        for n, t in zip(
                            pick(investors, "investor_name", "name"),
                            pick(investors, "investor_type", "investor_types"),
                            strict=True,
                        )
                    ],
                    index=investors.index,
                ),
                "domain": pick(investors, "domain"),
                "twitter_handle": pick(investors, "twitter_url").map(twitter_handle),
                "linkedin_url": pick(investors, "linkedin_url"),
                "active": pick(investors, "closed_on").map(lambda closed: "false" if closed else ""),
                "updated_at": pick(investors, "updated_at"),
            },
            investors.index,
        ),
        "funding_rounds": contract_frame(
            "funding_rounds",
            {
                "source_id": round_ids,
                "company_source_id": pick(rounds, "company_uuid", "org_uuid"),
                "round_type": pd.Series(
                    [
                        round_type(k, c)
                        for k, c in zip(
                            pick(rounds, "funding_round_type", "investment_type"),
                            pick(rounds, "funding_round_code"),
                            strict=True,
                        )
                    ],
                    index=rounds.index,
                ),
                "announced_at": pick(rounds, "announced_on"),
                "amount_usd": pick(rounds, "raised_amount_usd").map(amount),
                "lead_investor_source_id": round_ids.map(first_lead).fillna(""),
                "updated_at": pick(rounds, "updated_at"),
            },
            rounds.index,
        ),
        "investments": contract_frame(
            "investments",
            {
                "funding_round_source_id": link_round,
                "investor_source_id": link_investor,
                "is_lead": is_lead.fillna(pick(links, "is_lead_investor")),
                "updated_at": pick(links, "updated_at"),
            },
            links.index,
        ),
    }
    return write_tables(out, frames, report)


def bulk_companies(rounds: pd.DataFrame, organizations: pd.DataFrame | None) -> pd.DataFrame:
    """Organizations when exported; companies only named by their rounds are added from the rounds' columns."""
    from_rounds = contract_frame(
        "companies",
        {
            "source_id": pick(rounds, "company_uuid", "org_uuid"),
            "name": pick(rounds, "company_name", "org_name"),
            "hq_country": pick(rounds, "country_code").map(country_alpha2),
            "hq_region": pick(rounds, "state_code", "region"),
            "hq_city": pick(rounds, "city"),
            "primary_sector": pick(rounds, "company_category_list").map(lambda v: v.split("|")[0].strip()),
            "sectors": json_list(pick(rounds, "company_category_list"), split="|"),
        },
        rounds.index,
    ).drop_duplicates("source_id")
    if organizations is None:
        return from_rounds
    categories = pick(organizations, "category_list", "category_groups_list")
    organizations_frame = contract_frame(
        "companies",
        {
            "source_id": pick(organizations, "uuid", "company_uuid"),
            "name": pick(organizations, "name", "company_name"),
            "domain": pick(organizations, "domain").map(domain_of),
            "hq_country": pick(organizations, "country_code").map(country_alpha2),
            "hq_region": pick(organizations, "state_code", "region"),
            "hq_city": pick(organizations, "city"),
            "founded_year": pick(organizations, "founded_on").str[:4],
            "primary_sector": categories.str.split(",|\\|").str[0].fillna("").str.strip(),
            "sectors": json_list(categories.str.replace("|", ","), split=","),
            "status": pick(organizations, "status").map(lambda s: STATUSES.get(s, s)),
            "description": pick(organizations, "short_description"),
            "updated_at": pick(organizations, "updated_at"),
        },
        organizations.index,
    )
    missing = from_rounds[~from_rounds["source_id"].isin(organizations_frame["source_id"])]
    return pd.concat([organizations_frame, missing], ignore_index=True)


# ---------------------------------------------------------------- 2013 open data

LINK_COLUMNS = ["company_name", "investor_name", "funded_when", "amount_usd"]
TECHCRUNCH_COLUMNS = [
    "company_name",
    "funded_year",
    "raised_amount",
    "raised_currency_code",
    "round_code",
    "investor_name",
]
KEY_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class Links:
    """Investor-to-round links known by names, and how they are matched to the export's rounds.

    ``rounds_key`` makes the matching key of each export round; a link's ``match_key`` must equal
    it for exactly one round, else the link gets a round of its own, ``<company>/<round_part>/link``.
    """

    frame: pd.DataFrame  # company_name, investor_name, match_key, round_part, announced_at, round_type, amount_usd
    rounds_key: Callable[[pd.DataFrame], pd.Series]
    firms: frozenset[str] = frozenset()  # investor names known to be firms


def _name(values: pd.Series) -> pd.Series:
    return values.str.strip().str.lower()


def name_and_date_links(path: Path) -> Links:
    """``company_name,investor_name,funded_when,amount_usd`` (the December 2013 investments table)."""
    links = read_export_csv(path)
    missing = [c for c in LINK_COLUMNS if c not in links.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} (expected {','.join(LINK_COLUMNS)})")
    frame = pd.DataFrame(
        {
            "company_name": links["company_name"].str.strip(),
            "investor_name": links["investor_name"].str.strip(),
            "match_key": _name(links["company_name"]) + KEY_SEPARATOR + links["funded_when"],
            "round_part": links["funded_when"],
            "announced_at": links["funded_when"],
            "round_type": "",
            "amount_usd": links["amount_usd"].map(amount),
        }
    )
    return Links(frame, lambda rounds: _name(rounds["company_name"]) + KEY_SEPARATOR + rounds["funded_at"])


def _matching_round_type(types: pd.Series) -> pd.Series:
    """The October 2013 rounds have one type for series C and later (series-c+), and call seed rounds angel."""
    return types.replace(r"^series_[c-j]$", "series_c_plus", regex=True).replace("seed", "angel")


def techcrunch_links(investments_csv: Path, investors_csv: Path | None = None) -> Links:
    """The headerless TechCrunch/Crunchbase API v1 files of June 2013: rounds known by
    (company, year, round code) and amounts in their own currency (only USD amounts are kept)."""
    links = read_export_csv(investments_csv, names=TECHCRUNCH_COLUMNS)
    # "unattributed" is the API's code for a venture round without a series letter.
    types = links["round_code"].replace("unattributed", "venture").map(round_type)
    usd = links["raised_currency_code"].str.upper() == "USD"
    frame = pd.DataFrame(
        {
            "company_name": links["company_name"].str.strip(),
            "investor_name": links["investor_name"].str.strip(),
            "match_key": _name(links["company_name"])
            + KEY_SEPARATOR
            + links["funded_year"]
            + KEY_SEPARATOR
            + _matching_round_type(types),
            "round_part": links["funded_year"] + "/" + types,
            "announced_at": "",
            "round_type": types,
            "amount_usd": links["raised_amount"].map(amount).where(usd, ""),
        }
    )
    firms = (
        frozenset(read_export_csv(investors_csv, names=["name", "founded_year", "city", "state"])["name"].str.strip())
        if investors_csv
        else frozenset()
    )
    return Links(
        frame,
        lambda rounds: (
            _name(rounds["company_name"])
            + KEY_SEPARATOR
            + rounds["funded_year"]
            + KEY_SEPARATOR
            + _matching_round_type(rounds["funding_round_type"].map(round_type))
        ),
        firms,
    )


def permalink_key(permalink: str) -> str:
    return permalink.strip().strip("/")


def convert_open_data_2013(companies_csv: Path, rounds_csv: Path, links: Links | None, out: Path) -> ConversionReport:
    """Companies and rounds by permalink; investor links (names only) joined to a round when
    exactly one matches, otherwise to a round made from the link."""
    report = ConversionReport()
    companies = drop_exact_duplicates("companies", read_export_csv(companies_csv), report)
    rounds = drop_exact_duplicates("funding_rounds", read_export_csv(rounds_csv), report)
    company_frame = contract_frame(
        "companies",
        {
            "source_id": companies["permalink"].map(permalink_key),
            "name": companies["name"],
            "hq_country": companies["country_code"].map(country_alpha2),
            "hq_region": companies["state_code"].where(companies["state_code"] != "", companies["region"]),
            "hq_city": companies["city"],
            "founded_year": companies["founded_year"],
            "primary_sector": companies["category_code"],
            "sectors": json_list(companies["category_code"]),
            "status": companies["status"].map(lambda s: STATUSES.get(s, s)),
        },
        companies.index,
    )
    round_frame = contract_frame(
        "funding_rounds",
        {
            "source_id": rounds["company_permalink"].map(permalink_key)
            + "/"
            + rounds["funded_at"]
            + "/"
            + rounds["funding_round_type"],
            "company_source_id": rounds["company_permalink"].map(permalink_key),
            "round_type": rounds["funding_round_type"].map(round_type),
            "announced_at": rounds["funded_at"],
            "amount_usd": rounds["raised_amount_usd"].map(amount),
        },
        rounds.index,
    )
    frames = {
        "companies": company_frame,
        "funding_rounds": round_frame,
        "investors": contract_frame("investors", {}, pd.RangeIndex(0)),
        "investments": contract_frame("investments", {}, pd.RangeIndex(0)),
    }
    if links is not None:
        frame = drop_exact_duplicates("investments", links.frame, report)
        frames = link_frames(Links(frame, links.rounds_key, links.firms), rounds, frames, report)
    return write_tables(out, frames, report)


def _unique_lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """key -> value for keys that map to exactly one value."""
    pairs = pd.DataFrame({"key": keys.values, "value": values.values}).drop_duplicates()
    counts = pairs["key"].value_counts()
    return pairs[pairs["key"].map(counts) == 1].set_index("key")["value"]


def link_frames(
    links: Links, rounds: pd.DataFrame, frames: dict[str, pd.DataFrame], report: ConversionReport
) -> dict[str, pd.DataFrame]:
    link = links.frame
    matched = link["match_key"].map(_unique_lookup(links.rounds_key(rounds), frames["funding_rounds"]["source_id"]))
    report.notes["links_joined_to_rounds"] = int(matched.notna().sum())
    report.notes["links_with_rounds_made_from_the_link"] = int(matched.isna().sum())

    companies = frames["companies"]
    company_by_name = _unique_lookup(_name(companies["name"]), companies["source_id"])
    link_company = _name(link["company_name"]).map(company_by_name)
    link_company = link_company.where(link_company.notna(), link["company_name"].map(lambda n: name_key("company", n)))
    round_id = matched.where(matched.notna(), link_company + "/" + link["round_part"] + "/link")

    unmatched = matched.isna()
    made_rounds = pd.DataFrame(
        {
            "source_id": round_id[unmatched],
            "company_source_id": link_company[unmatched],
            "round_type": link["round_type"][unmatched],
            "announced_at": link["announced_at"][unmatched],
            "amount_usd": link["amount_usd"][unmatched],
        }
    )
    # Link files repeat the round's amount on every investor's line; a round keeps its largest stated amount.
    made_rounds["_order"] = pd.to_numeric(made_rounds["amount_usd"], errors="coerce")
    made_rounds = made_rounds.sort_values(["source_id", "_order"], ascending=[True, False], na_position="last")
    made_rounds = made_rounds.drop_duplicates("source_id").drop(columns="_order")
    made_companies = pd.DataFrame({"source_id": link_company, "name": link["company_name"]})
    made_companies = made_companies[~made_companies["source_id"].isin(companies["source_id"])]

    investor_id = link["investor_name"].map(lambda n: name_key("investor", n))
    # Spellings that slug alike are one investor; it keeps its most frequent spelling.
    spellings = pd.DataFrame({"source_id": investor_id, "name": link["investor_name"]})
    spelled = (
        spellings.value_counts()
        .reset_index()
        .sort_values(["source_id", "count", "name"], ascending=[True, False, True])
    )
    investors = spelled.drop_duplicates("source_id")
    return {
        "companies": pd.concat(
            [
                companies,
                contract_frame("companies", dict(made_companies), made_companies.index).drop_duplicates("source_id"),
            ],
            ignore_index=True,
        ),
        "funding_rounds": pd.concat(
            [frames["funding_rounds"], contract_frame("funding_rounds", dict(made_rounds), made_rounds.index)],
            ignore_index=True,
        ),
        "investors": contract_frame(
            "investors",
            {
                "source_id": investors["source_id"],
                "name": investors["name"],
                "kind": investors["name"].map(lambda n: "firm" if n in links.firms else investor_kind(n)),
            },
            investors.index,
        ),
        "investments": contract_frame(
            "investments",
            {
                "funding_round_source_id": round_id,
                "investor_source_id": investor_id,
            },
            link.index,
        ),
    }
