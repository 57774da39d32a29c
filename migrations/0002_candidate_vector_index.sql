-- The ANN index for candidate generation: find_investors takes its candidates from
-- the sector dimension and reranks ~50 rows on the other five, so only sector is
-- indexed. On AlloyDB the alloydb_scann extension gives a ScaNN index; anywhere
-- else pgvector's HNSW with cosine distance.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'alloydb_scann') THEN
    CREATE EXTENSION IF NOT EXISTS alloydb_scann;
    EXECUTE 'CREATE INDEX investors_sector_ann ON investors
               USING scann (sector_embedding cosine)
               WITH (mode = ''AUTO'', optimization = ''SEARCH_OPTIMIZED'', auto_maintenance = ''ON'')';
  ELSE
    EXECUTE 'CREATE INDEX investors_sector_ann ON investors
               USING hnsw (sector_embedding vector_cosine_ops)
               WITH (m = 16, ef_construction = 64)';
  END IF;
END
$$;
