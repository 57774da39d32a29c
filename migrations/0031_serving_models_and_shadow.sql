-- Which embedding model each dimension serves. Queries, checks, the sensors and the
-- incremental embedding assets all use it, so a model (or dimensions) change is switched
-- for everyone in one transaction, when the re-embed backfill has filled the shadow.
CREATE TABLE serving_embedding_models (
  dimension  text PRIMARY KEY CHECK (dimension IN ('sector', 'stage', 'check', 'geography', 'signal', 'founder')),
  model_id   int NOT NULL REFERENCES embedding_models (id),
  since      timestamptz NOT NULL DEFAULT now()
);

-- Vectors of the next model, written shard by shard by the re-embed backfill while the
-- investors columns keep serving the current one.
CREATE TABLE embedding_shadow (
  dimension    text NOT NULL,
  investor_id  bigint NOT NULL,
  model_id     int NOT NULL REFERENCES embedding_models (id),
  text_hash    bytea NOT NULL,
  embedding    vector NOT NULL,
  embedded_at  timestamptz NOT NULL,
  PRIMARY KEY (dimension, investor_id)
);
