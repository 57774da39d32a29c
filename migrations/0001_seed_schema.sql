-- The seed schema (shared/seeds/000) plus what the pipeline needs to feed it:
-- a stable external key (source_id) on every source-fed table, the source's own
-- updated_at (source_updated_at, the delta-sync watermark), soft delete everywhere,
-- the six per-dimension source texts on investors with a content hash each, and
-- per-dimension embedding provenance (which model made the vector, from which text).

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE users (
  id              bigserial PRIMARY KEY,
  workos_user_id  text UNIQUE NOT NULL,
  email           text,
  display_name    text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Which model and output dimension made a vector. A vector column is only ever
-- compared with a query vector made by the same registry row.
CREATE TABLE embedding_models (
  id          serial PRIMARY KEY,
  provider    text NOT NULL,            -- 'local' | 'openai'
  model       text NOT NULL,            -- e.g. 'text-embedding-3-small'
  dimensions  int  NOT NULL CHECK (dimensions > 0),
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (provider, model, dimensions)
);

CREATE TABLE companies (
  id                    bigserial PRIMARY KEY,
  uuid                  uuid UNIQUE NOT NULL DEFAULT gen_random_uuid(),
  source_id             text UNIQUE NOT NULL,
  name                  text NOT NULL,
  domain                text,
  hq_country            text,
  hq_region             text,
  hq_city               text,
  founded_year          int,
  primary_sector        text,
  sectors               text[],
  status                text,             -- active | acquired | shutdown | ipo
  description           text,
  description_embedding vector(1536),
  source_updated_at     timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  deleted_at            timestamptz
);

CREATE INDEX companies_sectors_gin ON companies USING gin (sectors);
CREATE INDEX companies_country ON companies (hq_country);

CREATE TABLE investors (
  id                       bigserial PRIMARY KEY,
  uuid                     uuid UNIQUE NOT NULL DEFAULT gen_random_uuid(),
  source_id                text UNIQUE NOT NULL,

  -- Identity
  name                     text NOT NULL,
  kind                     text NOT NULL CHECK (kind IN ('person', 'firm')),
  firm_id                  bigint REFERENCES investors(id),
  linkedin_url             text,
  twitter_handle           text,
  domain                   text,

  -- Hard filters
  active                   boolean NOT NULL DEFAULT true,
  check_size_min_usd       bigint,
  check_size_max_usd       bigint,
  preferred_stages         text[],
  focus_sectors            text[],
  geographies              text[],
  is_lead_capable          boolean,
  -- What the source says (NULL: it says nothing); is_lead_capable keeps the stated
  -- value or is derived from total_leads by the ranking-signals asset.
  is_lead_capable_stated   boolean,

  -- Ranking signals (derived by the graph assets)
  last_invested_at         date,
  total_investments        int NOT NULL DEFAULT 0,
  total_leads              int NOT NULL DEFAULT 0,
  authority_score          real,

  -- The six thesis vectors, one concern each.
  sector_embedding         vector(1536),
  stage_embedding          vector(1536),
  check_embedding          vector(1536),
  geography_embedding      vector(1536),
  signal_embedding         vector(1536),
  founder_embedding        vector(1536),

  -- Provenance for the thesis
  thesis_extracted_at      timestamptz,
  thesis_source            text,
  thesis_model             text,
  thesis_summary           text,
  thesis_summary_long      text,

  -- The per-dimension source texts the vectors are made from.
  sector_text              text,
  stage_text               text,
  check_text               text,
  geography_text           text,
  signal_text              text,
  founder_text             text,

  source_updated_at        timestamptz,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  deleted_at               timestamptz,

  CONSTRAINT investors_check_size_order
    CHECK (check_size_min_usd IS NULL OR check_size_max_usd IS NULL
           OR check_size_min_usd <= check_size_max_usd)
);

-- Per dimension: a content hash of the current text (NULL when the text is NULL or
-- blank, which means "no vector"), and the provenance of the stored vector. The
-- embedding assets find stale rows set-based by comparing <dim>_text_hash with
-- <dim>_embedded_hash, and every vector names its model.
DO $$
DECLARE
  dim text;
BEGIN
  FOREACH dim IN ARRAY ARRAY['sector', 'stage', 'check', 'geography', 'signal', 'founder'] LOOP
    EXECUTE format(
      'ALTER TABLE investors
         ADD COLUMN %1$s_text_hash bytea GENERATED ALWAYS AS (
           CASE WHEN %1$s_text IS NULL OR %1$s_text ~ ''^[[:space:]]*$'' THEN NULL
                ELSE decode(md5(%1$s_text), ''hex'') END) STORED,
         ADD COLUMN %1$s_embedded_hash bytea,
         ADD COLUMN %1$s_model_id int REFERENCES embedding_models(id),
         ADD COLUMN %1$s_embedded_at timestamptz,
         ADD CONSTRAINT investors_%1$s_provenance CHECK (
           (%1$s_embedding IS NULL) = (%1$s_model_id IS NULL)
           AND (%1$s_embedding IS NULL) = (%1$s_embedded_hash IS NULL)
           AND (%1$s_embedding IS NULL) = (%1$s_embedded_at IS NULL))',
      dim);
  END LOOP;
END
$$;

CREATE INDEX investors_active ON investors (active) WHERE deleted_at IS NULL;
CREATE INDEX investors_focus_sectors_gin ON investors USING gin (focus_sectors);
CREATE INDEX investors_geographies_gin ON investors USING gin (geographies);
CREATE INDEX investors_preferred_stages_gin ON investors USING gin (preferred_stages);
CREATE INDEX investors_check_min ON investors (check_size_min_usd);
CREATE INDEX investors_check_max ON investors (check_size_max_usd);
CREATE INDEX investors_last_invested ON investors (last_invested_at DESC NULLS LAST);
CREATE INDEX investors_authority ON investors (authority_score DESC NULLS LAST);
CREATE INDEX investors_firm ON investors (firm_id);

CREATE TABLE funding_rounds (
  id                bigserial PRIMARY KEY,
  uuid              uuid UNIQUE NOT NULL DEFAULT gen_random_uuid(),
  source_id         text UNIQUE NOT NULL,
  company_id        bigint NOT NULL REFERENCES companies(id),
  round_type        text,
  announced_at      date,
  amount_usd        bigint,
  lead_investor_id  bigint REFERENCES investors(id),
  source_updated_at timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  deleted_at        timestamptz
);

CREATE INDEX funding_rounds_company ON funding_rounds (company_id);
CREATE INDEX funding_rounds_lead ON funding_rounds (lead_investor_id);
CREATE INDEX funding_rounds_announced ON funding_rounds (announced_at DESC);

-- The seed's junction, with a source key ("<round source_id>|<investor source_id>")
-- and soft delete so a vanished investment can be audited and revived.
CREATE TABLE investments (
  id                bigserial PRIMARY KEY,
  source_id         text UNIQUE NOT NULL,
  funding_round_id  bigint NOT NULL REFERENCES funding_rounds(id),
  investor_id       bigint NOT NULL REFERENCES investors(id),
  is_lead           boolean NOT NULL DEFAULT false,
  amount_usd        bigint,
  source_updated_at timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  deleted_at        timestamptz,
  UNIQUE (funding_round_id, investor_id)
);

CREATE INDEX investments_investor ON investments (investor_id);
CREATE INDEX investments_round ON investments (funding_round_id);

CREATE TABLE runs (
  id                     bigserial PRIMARY KEY,
  uuid                   uuid UNIQUE NOT NULL DEFAULT gen_random_uuid(),
  user_id                bigint NOT NULL REFERENCES users(id),
  thread_id              text,
  user_query             text NOT NULL,
  class                  text,
  classifier_confidence  real,
  classifier_model       text,
  classifier_latency_ms  int,
  tool_input             jsonb,
  result_count           int,
  result_ids             bigint[],
  total_latency_ms       int,
  cost_usd               numeric(10,6),
  status                 text NOT NULL,
  error_message          text,
  created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX runs_user ON runs (user_id, created_at DESC);
CREATE INDEX runs_class ON runs (class, created_at DESC);
CREATE INDEX runs_status ON runs (status, created_at DESC);

CREATE TABLE feedback (
  id           bigserial PRIMARY KEY,
  run_id       bigint NOT NULL REFERENCES runs(id),
  investor_id  bigint NOT NULL REFERENCES investors(id),
  signal       text NOT NULL
               CHECK (signal IN ('thumbs_up', 'thumbs_down', 'meeting_booked', 'check_received', 'pass')),
  note         text,
  user_id      bigint NOT NULL REFERENCES users(id),
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX feedback_run ON feedback (run_id);
CREATE INDEX feedback_investor ON feedback (investor_id);

-- Rows a load refused, with why. raw is json (not jsonb) so that any text, NUL
-- escapes included, is kept exactly as it arrived.
CREATE TABLE quarantine (
  id          bigserial PRIMARY KEY,
  table_name  text NOT NULL,
  source_id   text,
  reason      text NOT NULL,
  raw         json NOT NULL,
  run_id      text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX quarantine_table_run ON quarantine (table_name, run_id);
