-- HNSW indexes build their graph with ef_construction = 128 (was 64). On the bench's 100k
-- investors five of nine builds at 64 had a mean recall@25 below 0.95, four of them with a
-- query whose index page held at most 2 of its 25 exact neighbours; none of three builds at
-- 128 did (0.974-0.992), for 1.3x the insert cost. pgvector reads the option at each insert,
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
