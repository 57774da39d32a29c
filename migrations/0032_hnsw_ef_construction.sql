-- HNSW indexes build their graph with ef_construction = 128 (was 64). On the bench's 100k
-- investors about half of the ef_construction = 64 builds left a query whose index page
-- missed almost all of its exact neighbours (recall@25 0.92-0.97 across builds); at 128
-- none did (0.97-0.99), for 1.3x the insert cost. pgvector reads the option at each insert,
-- so setting it takes no rebuild: new rows go in at 128 at once, and the graph of rows
-- already indexed improves when they are re-embedded or after
-- REINDEX INDEX CONCURRENTLY <index> (see the README). ScaNN indexes are not touched.
DO $$
DECLARE
  hnsw_index text;
BEGIN
  FOR hnsw_index IN
    SELECT indexname FROM pg_indexes WHERE tablename = 'investors' AND indexdef ILIKE '% USING hnsw%'
  LOOP
    EXECUTE format('ALTER INDEX %I SET (ef_construction = 128)', hnsw_index);
  END LOOP;
END
$$;
