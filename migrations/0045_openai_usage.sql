-- What OpenAI calls cost, per day, model and purpose: every embedding run, thesis extraction and
-- find_investors query embedding adds its requests, tokens and USD (at the model's price) here,
-- in the transaction that writes what it paid for.
CREATE TABLE openai_usage (
  day            date NOT NULL,
  model          text NOT NULL,
  purpose        text NOT NULL CHECK (purpose IN ('embedding', 'extraction', 'query')),
  requests       bigint NOT NULL DEFAULT 0,
  input_tokens   bigint NOT NULL DEFAULT 0,
  output_tokens  bigint NOT NULL DEFAULT 0,
  cost_usd       numeric(20, 10) NOT NULL DEFAULT 0,
  PRIMARY KEY (day, model, purpose)
);

-- One query embedding costs millionths of a cent ($0.02 per million tokens): runs.cost_usd
-- (numeric(10,6) in the seed) rounded every one to 0.
ALTER TABLE runs ALTER COLUMN cost_usd TYPE numeric(16, 10);
