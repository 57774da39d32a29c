"""The profile templates: how an investor's history becomes its six dimension texts and typed
preferences, as SQL over the live investment graph (one set-based pass, never per row).

Versioned: a change to anything here must bump ``TEMPLATE_VERSION``. The asset then re-derives
every profile; texts that come out different are written, so their hashes change and the
stale-embeddings sensor re-embeds exactly those dimensions.

Texts avoid raw counts and show shares rounded to 5%, so one more investment changes a text
only where it changes what the text says (its stage mix, its latest activity), not every text.
"""

from __future__ import annotations

import pycountry

from invest_assets.sources.schema import PROFILE_COLUMNS

TEMPLATE_VERSION = "graph-v1"

# Words too common in company descriptions to say anything about a portfolio.
STOPWORDS = sorted(
    set(
        """
about above after again also among an and any app apps are based being best better build builds building
business businesses by can company companies customer customers data develop developer developers
development does easy every for from global have help helps into its just leading make makes more most
new next offer offers offering online our over people platform platforms product products provide provider
providers provides service services simple software solution solutions that their them they this through
tool tools use used users using which while with world your
""".split()
    )
)

COUNTRIES = sorted((c.alpha_2, c.name) for c in pycountry.countries)


def label(code: str) -> str:
    """A sector or round code as words: series_c_plus -> series c+."""
    return f"replace(replace({code}, '_plus', '+'), '_', ' ')"


def pct(share: str) -> str:
    """A share as a percentage rounded to 5: at least 5%, and 100% only for all of it."""
    rounded = f"CASE WHEN {share} >= 1 THEN 100 ELSE least(95, greatest(5, round({share} * 20) * 5)) END"
    return f"({rounded})::int || '%%'"  # %% : these statements run with parameters


def usd(amount: str) -> str:
    """An amount in words: $500K, $1.5M, $2B."""

    def scaled(divisor: str, suffix: str) -> str:
        return f"rtrim(rtrim(to_char({amount} / {divisor}, 'FM999999990.0'), '0'), '.') || '{suffix}'"

    return (
        f"'$' || CASE WHEN {amount} >= 1e9 THEN {scaled('1e9', 'B')} WHEN {amount} >= 1e6 THEN "
        f"{scaled('1e6', 'M')} WHEN {amount} >= 1e3 THEN {scaled('1e3', 'K')} "
        f"ELSE round({amount})::bigint::text END"
    )


def two_significant(amount: str) -> str:
    """An amount rounded to two significant digits, as bigint."""
    return f"(round({amount} / 10 ^ (floor(log({amount})) - 1)) * 10 ^ (floor(log({amount})) - 1))::bigint"


def check_words(amount: str) -> str:
    return (
        f"CASE WHEN {amount} < 100e3 THEN 'angel-sized' WHEN {amount} < 500e3 THEN 'small seed' "
        f"WHEN {amount} < 2e6 THEN 'seed to series a' WHEN {amount} < 10e6 THEN 'series a to b' "
        f"WHEN {amount} < 50e6 THEN 'growth' ELSE 'late-stage' END"
    )


def round_size_stage(amount: str) -> str:
    return (
        f"CASE WHEN {amount} <= 1.5e6 THEN 'seed' WHEN {amount} <= 6e6 THEN 'series a' "
        f"WHEN {amount} <= 20e6 THEN 'series b' ELSE 'growth' END"
    )


# The live history of every live investor, as of %(as_of)s (NULL: everything; else only rounds
# dated before it; undated rounds cannot be placed before a date and are left out).
HISTORY = """
CREATE TEMP TABLE profile_history ON COMMIT DROP AS
SELECT i.investor_id, i.is_lead, r.id AS round_id, r.round_type, r.announced_at, r.amount_usd AS round_usd,
       COALESCE(i.amount_usd::float8, r.amount_usd::float8 / p.participants) AS check_usd,
       c.id AS company_id, c.name AS company, c.primary_sector,
       COALESCE(NULLIF(c.sectors, '{}'), CASE WHEN c.primary_sector IS NOT NULL THEN ARRAY[c.primary_sector] END,
                '{}') AS sectors,
       c.hq_country, COALESCE(c.hq_city, c.hq_region) AS place, c.founded_year, c.status, c.description
FROM investments i
JOIN funding_rounds r ON r.id = i.funding_round_id AND r.deleted_at IS NULL
JOIN companies c ON c.id = r.company_id AND c.deleted_at IS NULL
JOIN investors v ON v.id = i.investor_id AND v.deleted_at IS NULL
JOIN (SELECT funding_round_id, count(*) AS participants FROM investments WHERE deleted_at IS NULL
      GROUP BY funding_round_id) p ON p.funding_round_id = r.id
WHERE i.deleted_at IS NULL AND (%(as_of)s::date IS NULL OR r.announced_at < %(as_of)s::date)
"""

PROFILES = f"""
CREATE TEMP TABLE derived_profiles ON COMMIT DROP AS
WITH totals AS (
  SELECT investor_id, count(*) AS rounds, count(*) FILTER (WHERE cardinality(sectors) > 0) AS with_sector,
         count(*) FILTER (WHERE round_type IS NOT NULL) AS with_type,
         count(*) FILTER (WHERE hq_country IS NOT NULL) AS with_country,
         count(*) FILTER (WHERE is_lead) AS leads, max(announced_at) AS last_at,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY round_usd) AS median_round
  FROM profile_history GROUP BY investor_id
), sector_ranked AS (
  SELECT c.*, c.n::float8 / t.with_sector AS share,
         row_number() OVER (PARTITION BY c.investor_id ORDER BY c.n DESC, c.last_at DESC NULLS LAST, c.sector) AS rank,
         row_number() OVER (PARTITION BY c.investor_id ORDER BY c.recent DESC, c.last_at DESC NULLS LAST, c.sector)
           AS recent_rank
  FROM (SELECT h.investor_id, s.sector, count(*) AS n, max(h.announced_at) AS last_at,
               count(*) FILTER (WHERE h.announced_at >= t.last_at - interval '2 years') AS recent
        FROM profile_history h JOIN totals t USING (investor_id), unnest(h.sectors) AS s(sector)
        GROUP BY h.investor_id, s.sector) c
  JOIN totals t USING (investor_id)
), sector AS (
  SELECT investor_id,
         'Invests in ' || string_agg({label("sector")} || ' (' || {pct("share")} || ')', ', ' ORDER BY rank)
           FILTER (WHERE rank <= 5) || '.' AS listing,
         string_agg({label("sector")}, ', ' ORDER BY recent_rank) FILTER (WHERE recent_rank <= 3 AND recent > 0)
           AS lately,
         array_agg(sector ORDER BY rank) FILTER (WHERE rank <= 3 AND (share >= 0.15 OR rank = 1)) AS focus
  FROM sector_ranked GROUP BY investor_id
), term_ranked AS (
  SELECT investor_id, word,
         row_number() OVER (PARTITION BY investor_id ORDER BY count(DISTINCT company_id) DESC, word) AS rank
  FROM profile_history h, regexp_split_to_table(lower(h.description), '[^a-z]+') AS word
  WHERE h.description IS NOT NULL AND length(word) >= 4 AND word <> ALL(%(stopwords)s::text[])
  GROUP BY investor_id, word
), terms AS (
  SELECT investor_id, string_agg(word, ', ' ORDER BY rank) AS words FROM term_ranked WHERE rank <= 6
  GROUP BY investor_id
), stage_ranked AS (
  SELECT s.*, s.n::float8 / t.with_type AS share,
         row_number() OVER (PARTITION BY s.investor_id ORDER BY s.n DESC, s.round_type) AS rank
  FROM (SELECT investor_id, round_type, count(*) AS n, count(*) FILTER (WHERE is_lead) AS led
        FROM profile_history WHERE round_type IS NOT NULL GROUP BY investor_id, round_type) s
  JOIN totals t USING (investor_id)
), stage AS (
  SELECT investor_id,
         'Invests at ' || string_agg({label("round_type")} || ' (' || {pct("share")} || ')', ', ' ORDER BY rank)
           FILTER (WHERE rank <= 4) || '.' AS listing,
         array_agg(round_type ORDER BY rank) FILTER (WHERE rank <= 3 AND (share >= 0.2 OR rank = 1)) AS preferred,
         (array_agg(round_type ORDER BY led DESC, rank) FILTER (WHERE led > 0))[1] AS most_led
  FROM stage_ranked GROUP BY investor_id
), checks AS (  -- quartiles from four checks on; below that the smallest and largest
  SELECT investor_id,
         CASE WHEN count(*) >= 4 THEN percentile_cont(0.25) WITHIN GROUP (ORDER BY check_usd) ELSE min(check_usd) END
           AS p25,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY check_usd) AS p50,
         CASE WHEN count(*) >= 4 THEN percentile_cont(0.75) WITHIN GROUP (ORDER BY check_usd) ELSE max(check_usd) END
           AS p75
  FROM profile_history WHERE check_usd >= 1 GROUP BY investor_id
), country_ranked AS (
  SELECT g.*, g.n::float8 / t.with_country AS share, coalesce(iso.name, g.hq_country) AS country,
         iso.code IS NOT NULL AS is_iso,
         row_number() OVER (PARTITION BY g.investor_id ORDER BY g.n DESC, g.hq_country) AS rank
  FROM (SELECT investor_id, hq_country, count(*) AS n FROM profile_history WHERE hq_country IS NOT NULL
        GROUP BY investor_id, hq_country) g
  JOIN totals t USING (investor_id)
  LEFT JOIN unnest(%(iso_codes)s::text[], %(iso_names)s::text[]) AS iso(code, name) ON iso.code = g.hq_country
), place_ranked AS (
  SELECT investor_id, place, row_number() OVER (PARTITION BY investor_id ORDER BY count(*) DESC, place) AS rank
  FROM profile_history WHERE place IS NOT NULL GROUP BY investor_id, place
), geography AS (
  SELECT c.investor_id,
         'Backs companies in ' || string_agg(c.country || ' (' || {pct("c.share")} || ')', ', ' ORDER BY c.rank)
           FILTER (WHERE c.rank <= 4) || '.' AS listing,
         array_agg(c.hq_country ORDER BY c.rank) FILTER (WHERE c.is_iso AND c.rank <= 3
                                                         AND (c.share >= 0.1 OR c.rank = 1)) AS codes
  FROM country_ranked c GROUP BY c.investor_id
), places AS (
  SELECT investor_id, string_agg(place, ', ' ORDER BY rank) AS names FROM place_ranked WHERE rank <= 3
  GROUP BY investor_id
), latest AS (
  SELECT investor_id,
         string_agg(company || ' (' || concat_ws(', ', {label("sectors[1]")}, {label("round_type")},
                                                 announced_at::text) || ')', '; ' ORDER BY rn) AS listing
  FROM (SELECT h.*, row_number() OVER (PARTITION BY investor_id ORDER BY announced_at DESC NULLS LAST,
                                       round_id DESC) AS rn
        FROM profile_history h) h
  WHERE rn <= 5 GROUP BY investor_id
), companies_backed AS (
  SELECT investor_id, min(founded_year) AS first_founded, max(founded_year) AS last_founded,
         percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(year FROM announced_at) - founded_year)
           FILTER (WHERE announced_at IS NOT NULL AND founded_year IS NOT NULL) AS age,
         count(DISTINCT company_id) FILTER (WHERE status IS NOT NULL) AS with_status,
         count(DISTINCT company_id) FILTER (WHERE status = 'active') AS active,
         count(DISTINCT company_id) FILTER (WHERE status = 'acquired') AS acquired,
         count(DISTINCT company_id) FILTER (WHERE status = 'ipo') AS ipo,
         count(DISTINCT company_id) FILTER (WHERE status = 'shutdown') AS shutdown
  FROM profile_history GROUP BY investor_id
), founder AS (
  SELECT investor_id, concat_ws(' ',
           'Backs companies founded ' || CASE WHEN first_founded = last_founded THEN first_founded::text
                                              ELSE first_founded || ' to ' || last_founded END || '.',
           CASE WHEN age <= 2 THEN 'Invests at the very start, when companies are at most two years old.'
                WHEN age <= 5 THEN 'Invests once companies have a few years of traction.'
                WHEN age IS NOT NULL THEN 'Invests in established companies, typically ' || age::int
                                          || ' years old.' END,
           'Outcomes so far: ' || concat_ws(', ',
             CASE WHEN active > 0 THEN {pct("active::float8 / with_status")} || ' active' END,
             CASE WHEN acquired > 0 THEN {pct("acquired::float8 / with_status")} || ' acquired' END,
             CASE WHEN ipo > 0 THEN {pct("ipo::float8 / with_status")} || ' public' END,
             CASE WHEN shutdown > 0 THEN {pct("shutdown::float8 / with_status")} || ' shut down' END) || '.'
         ) AS text
  FROM companies_backed WHERE first_founded IS NOT NULL OR with_status > 0
)
SELECT t.investor_id,
       NULLIF(concat_ws(' ', s.listing, 'Most active lately in ' || s.lately || '.',
                        'Its companies build: ' || tm.words || '.'), '') AS sector_text,
       CASE WHEN st.listing IS NOT NULL THEN
              st.listing || CASE WHEN t.leads > 0 THEN ' Leads ' || {pct("t.leads::float8 / t.rounds")}
                                   || ' of its rounds' || coalesce(', most often at ' || {label("st.most_led")}, '')
                                   || '.' ELSE ' Follows other leads.' END
            WHEN t.median_round IS NOT NULL THEN
              'Round types not recorded; its rounds are typically ' || {usd("t.median_round")} || ', the size of a '
              || {round_size_stage("t.median_round")} || ' round.' END AS stage_text,
       CASE WHEN k.p50 IS NOT NULL THEN
              'Typical check ' || CASE WHEN {usd("k.p25")} = {usd("k.p75")} THEN {usd("k.p50")}
                                       ELSE {usd("k.p25")} || ' to ' || {usd("k.p75")} || ' (median '
                                            || {usd("k.p50")} || ')' END
              || ': ' || {check_words("k.p50")} || ' checks.' END AS check_text,
       NULLIF(concat_ws(' ', g.listing, 'Most often ' || pl.names || '.'), '') AS geography_text,
       'Latest investments: ' || l.listing || '.' AS signal_text,
       NULLIF(concat_ws(' ', f.text, 'Its companies build: ' || tm.words || '.'), '') AS founder_text,
       s.focus AS focus_sectors, st.preferred AS preferred_stages, g.codes AS geographies,
       CASE WHEN k.p25 IS NOT NULL THEN {two_significant("greatest(k.p25 / 2, 1)")} END AS check_size_min_usd,
       CASE WHEN k.p75 IS NOT NULL THEN {two_significant("greatest(k.p75 * 2, 1)")} END AS check_size_max_usd
FROM totals t
LEFT JOIN sector s USING (investor_id)
LEFT JOIN terms tm USING (investor_id)
LEFT JOIN stage st USING (investor_id)
LEFT JOIN checks k USING (investor_id)
LEFT JOIN geography g USING (investor_id)
LEFT JOIN places pl USING (investor_id)
LEFT JOIN latest l USING (investor_id)
LEFT JOIN founder f USING (investor_id)
"""

# The derived columns of investors, in the order PROFILES produces them: the profile columns a source may state.
DERIVED_FIELDS = PROFILE_COLUMNS


def parameters(as_of) -> dict:
    return {
        "as_of": as_of,
        "stopwords": STOPWORDS,
        "iso_codes": [code for code, _ in COUNTRIES],
        "iso_names": [name for _, name in COUNTRIES],
    }
