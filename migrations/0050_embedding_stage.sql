-- A bulk embedding run (one that rewrites most of a table's vectors: a first build, a new profile
-- template) stages its vectors here and writes them into the table in one UPDATE at its end
-- (invest_assets/embeddings/bulk.py): meanwhile the table's vectors and ANN index keep serving, each row
-- is rewritten once for all the run's dimensions, and a killed run's staged vectors are used by the next.
-- UNLOGGED: staging costs no WAL; a server crash empties the table, and the next run embeds those rows
-- again.
CREATE UNLOGGED TABLE embedding_stage (
  target     text NOT NULL,
  id         bigint NOT NULL,
  model_id   int NOT NULL REFERENCES embedding_models (id),
  text_hash  bytea NOT NULL,
  embedding  vector NOT NULL,
  PRIMARY KEY (target, id)
);
