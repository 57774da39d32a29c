-- Embedding runs can go through the Batch API too: a batch is for one vector target (the dimension
-- in target), and each of its requests (up to 2,048 texts) is recorded with the rows and text
-- hashes it embeds, so its answers are written only where the text is still the one embedded.
ALTER TABLE openai_batches DROP CONSTRAINT openai_batches_purpose_check;
ALTER TABLE openai_batches ADD CONSTRAINT openai_batches_purpose_check CHECK (purpose IN ('extraction', 'embedding'));
ALTER TABLE openai_batches ALTER COLUMN prompt_version DROP NOT NULL;
ALTER TABLE openai_batches ADD COLUMN target text;

CREATE TABLE openai_batch_requests (
  batch_row_id  integer NOT NULL REFERENCES openai_batches(id),
  custom_id     text NOT NULL,
  ids           bigint[] NOT NULL,
  hashes        bytea[] NOT NULL,
  PRIMARY KEY (batch_row_id, custom_id)
);
