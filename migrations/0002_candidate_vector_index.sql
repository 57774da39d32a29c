-- The ANN index for candidate generation: find_investors takes its candidates from
-- the sector dimension and reranks ~50 rows on the other five, so only sector is
-- indexed, with pgvector's HNSW and cosine distance. On AlloyDB (alloydb_scann
-- available) nothing is built here: a ScaNN index trains on existing rows and cannot be
-- built on the empty table, so the sector_embedding asset builds it once vectors exist.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'alloydb_scann') THEN
    EXECUTE 'CREATE INDEX investors_sector_ann ON investors
               USING hnsw (sector_embedding vector_cosine_ops)
               WITH (m = 16, ef_construction = 64)';
  END IF;
END
$$;
