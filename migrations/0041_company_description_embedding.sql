-- companies.description_embedding (seed 000) gets what every investor dimension has: the
-- text it is made from, that text's content hash, and the provenance of the stored vector,
-- so the company_description_embedding asset embeds only changed rows, the sensor sees
-- them set-based, and a vector always names its model.
--
-- description_text is what is embedded: the description when the source has one, else
-- the name and sectors ("Waywire: news, video"); NULL (no vector) when there is neither a
-- description nor a sector. A trigger computes it because the array functions it needs
-- are not immutable, so it cannot be a generated column; generated columns are computed
-- after BEFORE triggers, so the hash follows in the same statement.

ALTER TABLE companies
  ADD COLUMN description_text        text,
  ADD COLUMN description_text_hash   bytea GENERATED ALWAYS AS (
    CASE WHEN description_text IS NULL OR description_text ~ '^[[:space:]]*$' THEN NULL
         ELSE decode(md5(description_text), 'hex') END) STORED,
  ADD COLUMN description_embedded_hash bytea,
  ADD COLUMN description_model_id    int REFERENCES embedding_models (id),
  ADD COLUMN description_embedded_at timestamptz,
  ADD CONSTRAINT companies_description_provenance CHECK (
    (description_embedding IS NULL) = (description_model_id IS NULL)
    AND (description_embedding IS NULL) = (description_embedded_hash IS NULL)
    AND (description_embedding IS NULL) = (description_embedded_at IS NULL));

CREATE FUNCTION companies_description_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.description_text := CASE
    WHEN NEW.description !~ '^[[:space:]]*$' THEN btrim(NEW.description)
    WHEN cardinality(NEW.sectors) > 0
      THEN NEW.name || ': ' || replace(array_to_string(NEW.sectors, ', '), '_', ' ') END;
  RETURN NEW;
END
$$;

CREATE TRIGGER companies_description_text BEFORE INSERT OR UPDATE OF description, name, sectors ON companies
  FOR EACH ROW EXECUTE FUNCTION companies_description_text();

UPDATE companies SET description = description;

ALTER TABLE serving_embedding_models DROP CONSTRAINT serving_embedding_models_dimension_check;
ALTER TABLE serving_embedding_models ADD CONSTRAINT serving_embedding_models_dimension_check
  CHECK (dimension IN ('sector', 'stage', 'check', 'geography', 'signal', 'founder', 'company_description'));
