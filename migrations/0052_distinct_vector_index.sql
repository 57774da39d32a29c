-- The candidate index moves from investors to a table of each dimension's distinct vectors.
--
-- Derived profiles repeat: on the Crunchbase 2013 build 10,554 sector vectors hold 3,073 distinct
-- texts, one of them shared by 839 investors. An HNSW graph over many identical vectors is not
-- navigable (pgvector issue #837): for that text the index returned none of its 839 exact matches at
-- any ef_search, and the candidate_recall check measured recall@25 0.334. Over the distinct vectors
-- the same check measures 1.000. So each investor dimension gets investor_<dim>_vectors, one row per
-- (model, text hash) that a live investor's vector has, and the ANN index is built on it; a query
-- walks it in distance order and joins the investors whose vector it is by (hash, model), through
-- investors_<dim>_by_vector (invest_assets/vectors/distinct.py).
--
-- It also keeps the serving index whole during a bulk write: an UPDATE of investors touches no ANN
-- index, and the distinct table is rebuilt beside the serving one and swapped in by renames.
--
-- Only the candidate dimensions (INVEST_ANN_DIMENSIONS, default sector) are filled and indexed; the
-- others stay empty. The vector column takes the investors column's type (vector or halfvec, and its
-- size), here and on every rebuild.
DO $$
DECLARE
  dimension text;
  column_type text;
  ann_index text;
BEGIN
  FOREACH dimension IN ARRAY ARRAY['sector', 'stage', 'check', 'geography', 'signal', 'founder'] LOOP
    SELECT format_type(atttypid, atttypmod) INTO column_type FROM pg_attribute
      WHERE attrelid = 'investors'::regclass AND attname = dimension || '_embedding';
    EXECUTE format(
      'CREATE TABLE investor_%1$s_vectors (model_id int NOT NULL, text_hash bytea NOT NULL,'
      ' embedding %2$s NOT NULL, PRIMARY KEY (model_id, text_hash))', dimension, column_type);
    SELECT indexname INTO ann_index FROM pg_indexes WHERE tablename = 'investors'
      AND indexdef ILIKE format('%% USING hnsw (%s_embedding %%', dimension);
    IF ann_index IS NULL THEN
      CONTINUE;  -- not a candidate dimension here (or a ScaNN index: its build follows on the next run)
    END IF;
    EXECUTE format(
      'INSERT INTO investor_%1$s_vectors SELECT DISTINCT ON (%1$s_model_id, %1$s_embedded_hash)'
      ' %1$s_model_id, %1$s_embedded_hash, %1$s_embedding FROM investors'
      ' WHERE %1$s_embedding IS NOT NULL AND deleted_at IS NULL ORDER BY 1, 2', dimension);
    EXECUTE format(
      'CREATE INDEX investors_%1$s_by_vector ON investors (%1$s_embedded_hash, %1$s_model_id)', dimension);
    EXECUTE format(
      'CREATE INDEX investor_%1$s_vectors_ann ON investor_%1$s_vectors USING hnsw (embedding %2$s_cosine_ops)'
      ' WITH (m = 16, ef_construction = 128)', dimension, split_part(column_type, '(', 1));
    EXECUTE format('DROP INDEX %I', ann_index);
  END LOOP;
  -- A ScaNN index on investors (AlloyDB) is dropped; the next embedding run or `invest-assets index`
  -- builds it on the distinct table.
  FOR ann_index IN
    SELECT indexname FROM pg_indexes WHERE tablename = 'investors' AND indexdef ILIKE '% USING scann%'
  LOOP
    EXECUTE format('DROP INDEX %I', ann_index);
  END LOOP;
END
$$;
