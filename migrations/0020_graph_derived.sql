-- Graph-derived data (pre-aggregation jobs, so find_investors reads investors only).

-- Which of stated / derived is_lead_capable holds (seed open question 2).
ALTER TABLE investors
  ADD COLUMN is_lead_capable_source text CHECK (is_lead_capable_source IN ('stated', 'derived')),
  ADD COLUMN authority_computed_at timestamptz,
  ADD COLUMN authority_formula text;

-- One row per unordered pair of investors that shared at least one live round
-- (seed open question 7: warm-path drafts). A table rather than a materialized view:
-- the refresh applies only the difference (readers never wait, unchanged rows are not
-- rewritten), and it records when each pair was computed, on PostgreSQL and AlloyDB alike.
CREATE TABLE co_investor_pairs (
  investor_a_id     bigint NOT NULL,
  investor_b_id     bigint NOT NULL,
  shared_rounds     int NOT NULL CHECK (shared_rounds > 0),
  shared_companies  int NOT NULL CHECK (shared_companies > 0),
  first_shared_at   date,
  last_shared_at    date,
  a_led             int NOT NULL DEFAULT 0,   -- shared rounds investor a led
  b_led             int NOT NULL DEFAULT 0,   -- shared rounds investor b led
  computed_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (investor_a_id, investor_b_id),
  CHECK (investor_a_id < investor_b_id)
);

-- "Top co-investors of X" is one index range scan from either side.
CREATE INDEX co_investor_pairs_a_top ON co_investor_pairs (investor_a_id, shared_rounds DESC, last_shared_at DESC);
CREATE INDEX co_investor_pairs_b_top ON co_investor_pairs (investor_b_id, shared_rounds DESC, last_shared_at DESC);
