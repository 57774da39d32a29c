"""Set-based SQL of the graph-derived assets.

"Live" participation: an investment, its round and its investor all not soft-deleted.
A participant led the round when its investment says so or the round names it as lead.
"""

LIVE_PARTICIPATION = """
  SELECT i.investor_id, i.funding_round_id, r.company_id, r.announced_at,
         (i.is_lead OR r.lead_investor_id = i.investor_id) AS led
  FROM investments i
  JOIN funding_rounds r ON r.id = i.funding_round_id AND r.deleted_at IS NULL
  JOIN investors v ON v.id = i.investor_id AND v.deleted_at IS NULL
  WHERE i.deleted_at IS NULL
"""

# Totals per investor; is_lead_capable keeps a stated value and is derived otherwise.
UPDATE_RANKING_SIGNALS = f"""
WITH live AS ({LIVE_PARTICIPATION}),
totals AS (
  SELECT v.id,
         count(l.funding_round_id)::int AS total_investments,
         (count(l.funding_round_id) FILTER (WHERE l.led))::int AS total_leads,
         max(l.announced_at) AS last_invested_at
  FROM investors v LEFT JOIN live l ON l.investor_id = v.id
  GROUP BY v.id
),
target AS (
  SELECT t.*, coalesce(v.is_lead_capable_stated, t.total_leads > 0) AS is_lead_capable,
         CASE WHEN v.is_lead_capable_stated IS NULL THEN 'derived' ELSE 'stated' END AS is_lead_capable_source
  FROM totals t JOIN investors v USING (id)
)
UPDATE investors v
SET total_investments = t.total_investments, total_leads = t.total_leads, last_invested_at = t.last_invested_at,
    is_lead_capable = t.is_lead_capable, is_lead_capable_source = t.is_lead_capable_source, updated_at = now()
FROM target t
WHERE v.id = t.id
  AND (v.total_investments, v.total_leads, v.last_invested_at, v.is_lead_capable, v.is_lead_capable_source)
      IS DISTINCT FROM (t.total_investments, t.total_leads, t.last_invested_at, t.is_lead_capable,
                        t.is_lead_capable_source)
"""

# For the graph's big joins and aggregates, per sort/hash node (larger inputs spill to disk). The planner
# underestimates the distinct investors of the investments (~61,000 at 1,000,000 investors, 847,075 real);
# with the default 4 MB the scores_valid join over them took 614 s, with 64 MB 12.4 s.
WORK_MEM = "SET LOCAL work_mem = '64MB'"

# Every unordered pair sharing a round. The self-join is quadratic in a round's size;
# PostgreSQL's hash aggregates spill to disk past work_mem, so memory stays bounded.
# Two grouping levels (pair and company, then pair) count companies without a
# count(DISTINCT ...), which would force a sort of every pair row.
CREATE_FRESH_PAIRS = f"""
CREATE TEMP TABLE fresh_pairs ON COMMIT DROP AS
WITH live AS ({LIVE_PARTICIPATION}),
per_company AS (
  SELECT a.investor_id AS investor_a_id, b.investor_id AS investor_b_id,
         count(*) AS rounds, min(a.announced_at) AS first_at, max(a.announced_at) AS last_at,
         count(*) FILTER (WHERE a.led) AS a_led, count(*) FILTER (WHERE b.led) AS b_led
  FROM live a JOIN live b ON a.funding_round_id = b.funding_round_id AND a.investor_id < b.investor_id
  GROUP BY a.investor_id, b.investor_id, a.company_id
)
SELECT investor_a_id, investor_b_id, sum(rounds)::int AS shared_rounds, count(*)::int AS shared_companies,
       min(first_at) AS first_shared_at, max(last_at) AS last_shared_at,
       sum(a_led)::int AS a_led, sum(b_led)::int AS b_led
FROM per_company GROUP BY investor_a_id, investor_b_id
"""

PAIR_VALUES = "shared_rounds, shared_companies, first_shared_at, last_shared_at, a_led, b_led"

APPLY_PAIRS = [
    (
        "removed",
        """
        DELETE FROM co_investor_pairs p WHERE NOT EXISTS (
          SELECT 1 FROM fresh_pairs f WHERE f.investor_a_id = p.investor_a_id AND f.investor_b_id = p.investor_b_id)
     """,
    ),
    (
        "updated",
        f"""
        UPDATE co_investor_pairs p SET ({PAIR_VALUES}) = (
            f.shared_rounds, f.shared_companies, f.first_shared_at, f.last_shared_at, f.a_led, f.b_led),
          computed_at = now()
        FROM fresh_pairs f
        WHERE f.investor_a_id = p.investor_a_id AND f.investor_b_id = p.investor_b_id
          AND (p.shared_rounds, p.shared_companies, p.first_shared_at, p.last_shared_at, p.a_led, p.b_led)
              IS DISTINCT FROM (f.shared_rounds, f.shared_companies, f.first_shared_at, f.last_shared_at,
                                f.a_led, f.b_led)
     """,
    ),
    (
        "inserted",
        f"""
        INSERT INTO co_investor_pairs (investor_a_id, investor_b_id, {PAIR_VALUES})
        SELECT f.investor_a_id, f.investor_b_id, {PAIR_VALUES} FROM fresh_pairs f
        WHERE NOT EXISTS (SELECT 1 FROM co_investor_pairs p
                          WHERE p.investor_a_id = f.investor_a_id AND p.investor_b_id = f.investor_b_id)
        ORDER BY f.investor_a_id, f.investor_b_id  -- key order: appends to the B-trees instead of random writes
     """,
    ),
]

# Follower -> lead edges weighted by recency (half-life HALF_LIFE_YEARS, measured from the
# newest live round so scores are reproducible), and each investor's recency-weighted volume.
# Undated rounds count as one half-life old.
RECENCY = """power(0.5, coalesce((ref.newest - {date}) / 365.25, %(half_life)s) / %(half_life)s)"""

AUTHORITY_EDGES = f"""
WITH live AS ({LIVE_PARTICIPATION}),
ref AS (SELECT max(announced_at) AS newest FROM live)
SELECT f.investor_id AS follower, l.investor_id AS lead, sum({RECENCY.format(date="f.announced_at")}) AS weight
FROM live f JOIN live l ON l.funding_round_id = f.funding_round_id AND l.led AND NOT f.led, ref
WHERE f.investor_id <> l.investor_id
GROUP BY f.investor_id, l.investor_id
ORDER BY 1, 2
"""

AUTHORITY_VOLUME = f"""
WITH live AS ({LIVE_PARTICIPATION}),
ref AS (SELECT max(announced_at) AS newest FROM live)
SELECT investor_id, sum({RECENCY.format(date="announced_at")}) AS volume
FROM live, ref GROUP BY investor_id ORDER BY 1
"""

# Previews for the UI: a few rows each, column aliases as the table's headers.
TOP_INVESTORS_BY_ACTIVITY = """
SELECT source_id AS investor, name, total_investments AS investments, total_leads AS leads,
       last_invested_at AS last_invested, is_lead_capable AS lead_capable, is_lead_capable_source AS lead_source
FROM investors WHERE deleted_at IS NULL
ORDER BY total_investments DESC, id LIMIT %s
"""

TOP_PAIRS = """
SELECT a.name AS "investor a", b.name AS "investor b", p.shared_rounds AS "shared rounds",
       p.last_shared_at AS "last shared"
FROM co_investor_pairs p
JOIN investors a ON a.id = p.investor_a_id JOIN investors b ON b.id = p.investor_b_id
ORDER BY p.shared_rounds DESC, p.last_shared_at DESC NULLS LAST, 1, 2 LIMIT %s
"""

TOP_AUTHORITY = """
SELECT source_id AS investor, name, authority_score AS score, total_investments AS investments,
       total_leads AS leads
FROM investors WHERE deleted_at IS NULL AND authority_score IS NOT NULL
ORDER BY authority_score DESC, id LIMIT %s
"""
