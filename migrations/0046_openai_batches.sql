-- Thesis extractions sent through OpenAI's Batch API: one row per uploaded input file, written
-- before the batch is started, so a run killed at any point is resumed by the next one (which
-- finds the batch started for that file) instead of paying twice; applied_at says its answers
-- are written.
CREATE TABLE openai_batches (
  id             serial PRIMARY KEY,
  purpose        text NOT NULL CHECK (purpose IN ('extraction')),
  model          text NOT NULL,
  prompt_version text NOT NULL,
  input_file_id  text NOT NULL UNIQUE,
  batch_id       text UNIQUE,
  requests       integer NOT NULL,
  status         text NOT NULL DEFAULT 'uploaded',
  submitted_at   timestamptz NOT NULL DEFAULT now(),
  applied_at     timestamptz
);
CREATE INDEX openai_batches_in_flight ON openai_batches (purpose, id) WHERE applied_at IS NULL;
