-- What investors publish, and the theses extracted from it (the investor_theses asset).
--
-- investor_documents is the optional source table of the same name: an investor's web pages,
-- decks, manual notes and news, as plain text, keyed by (investor, kind, url).
--
-- For each profile field of migration 0040 there is now a third value, <x>_extracted, written by
-- the investor_theses asset from the investor's documents. The served value takes, per field,
-- the source's stated value, else the extracted one, else the graph-derived one; provenance
-- says which ('source', 'extracted' or 'derived').
--
-- investor_theses keeps one extraction per investor: the key it was made for (the documents'
-- hash, the prompt version, the model), what came back (the raw answer, a refusal, or why it
-- was rejected), the summaries, and the tokens it cost. An unchanged key is never sent again.

CREATE TABLE investor_documents (
  id                bigserial PRIMARY KEY,
  source_id         text UNIQUE NOT NULL,
  investor_id       bigint NOT NULL REFERENCES investors(id),
  kind              text NOT NULL CHECK (kind IN ('web', 'deck', 'manual', 'news')),
  url               text NOT NULL,
  text              text NOT NULL,
  source_updated_at timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  deleted_at        timestamptz
);
CREATE INDEX investor_documents_investor ON investor_documents (investor_id) WHERE deleted_at IS NULL;

CREATE TABLE investor_theses (
  investor_id     bigint PRIMARY KEY REFERENCES investors(id),
  documents_hash  text NOT NULL,
  prompt_version  text NOT NULL,
  model           text NOT NULL,
  status          text NOT NULL CHECK (status IN ('extracted', 'refused', 'rejected')),
  reason          text,
  answer          jsonb,
  summary         text,
  summary_long    text,
  prompt_tokens   integer NOT NULL DEFAULT 0,
  output_tokens   integer NOT NULL DEFAULT 0,
  extracted_at    timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
  field text;
BEGIN
  FOREACH field IN ARRAY ARRAY['sector_text', 'stage_text', 'check_text', 'geography_text', 'signal_text',
                               'founder_text'] LOOP
    EXECUTE format('ALTER TABLE investors ADD COLUMN %1$s_extracted text', field);
  END LOOP;
  FOREACH field IN ARRAY ARRAY['focus_sectors', 'preferred_stages', 'geographies'] LOOP
    EXECUTE format('ALTER TABLE investors ADD COLUMN %1$s_extracted text[]', field);
  END LOOP;
  FOREACH field IN ARRAY ARRAY['check_size_min_usd', 'check_size_max_usd'] LOOP
    EXECUTE format('ALTER TABLE investors ADD COLUMN %1$s_extracted bigint', field);
  END LOOP;
END
$$;

ALTER TABLE investors ADD CONSTRAINT investors_check_size_extracted_order
  CHECK (check_size_min_usd_extracted IS NULL OR check_size_max_usd_extracted IS NULL
         OR check_size_min_usd_extracted <= check_size_max_usd_extracted);

DROP TRIGGER investors_serve_profile ON investors;

-- As in 0040, the body is generated, one block per field.
DO $$
DECLARE
  body text := '';
  field text;
  stated text;
  extracted text;
BEGIN
  FOREACH field IN ARRAY ARRAY['sector_text', 'stage_text', 'check_text', 'geography_text', 'signal_text',
                               'founder_text', 'focus_sectors', 'preferred_stages', 'geographies'] LOOP
    stated := CASE WHEN field LIKE '%_text' THEN format('NEW.%1$s_stated !~ ''^[[:space:]]*$''', field)
                   ELSE format('cardinality(NEW.%1$s_stated) > 0', field) END;
    extracted := CASE WHEN field LIKE '%_text' THEN format('NEW.%1$s_extracted !~ ''^[[:space:]]*$''', field)
                      ELSE format('cardinality(NEW.%1$s_extracted) > 0', field) END;
    body := body || format($f$
  origin := CASE WHEN COALESCE(%2$s, false) THEN 'source'
                 WHEN COALESCE(%3$s, false) THEN 'extracted'
                 WHEN NEW.%1$s_derived IS NOT NULL THEN 'derived' END;
  IF TG_OP = 'INSERT' AND origin IS NOT NULL
     OR TG_OP = 'UPDATE' AND (NEW.%1$s_stated IS DISTINCT FROM OLD.%1$s_stated
                              OR NEW.%1$s_extracted IS DISTINCT FROM OLD.%1$s_extracted
                              OR NEW.%1$s_derived IS DISTINCT FROM OLD.%1$s_derived) THEN
    NEW.%1$s := CASE origin WHEN 'source' THEN NEW.%1$s_stated WHEN 'extracted' THEN NEW.%1$s_extracted
                            WHEN 'derived' THEN NEW.%1$s_derived END;
  END IF;
  provenance := provenance || jsonb_build_object(%4$L, origin);
$f$, field, stated, extracted, field);
  END LOOP;
  EXECUTE format($fn$
CREATE OR REPLACE FUNCTION investors_serve_profile() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
  origin text;
  provenance jsonb := '{}';
BEGIN
%s
  origin := CASE WHEN NEW.check_size_min_usd_stated IS NOT NULL OR NEW.check_size_max_usd_stated IS NOT NULL
                   THEN 'source'
                 WHEN NEW.check_size_min_usd_extracted IS NOT NULL OR NEW.check_size_max_usd_extracted IS NOT NULL
                   THEN 'extracted'
                 WHEN NEW.check_size_min_usd_derived IS NOT NULL OR NEW.check_size_max_usd_derived IS NOT NULL
                   THEN 'derived' END;
  IF TG_OP = 'INSERT' AND origin IS NOT NULL
     OR TG_OP = 'UPDATE' AND (ROW(NEW.check_size_min_usd_stated, NEW.check_size_max_usd_stated,
                                  NEW.check_size_min_usd_extracted, NEW.check_size_max_usd_extracted,
                                  NEW.check_size_min_usd_derived, NEW.check_size_max_usd_derived)
                              IS DISTINCT FROM ROW(OLD.check_size_min_usd_stated, OLD.check_size_max_usd_stated,
                                                   OLD.check_size_min_usd_extracted, OLD.check_size_max_usd_extracted,
                                                   OLD.check_size_min_usd_derived, OLD.check_size_max_usd_derived)) THEN
    NEW.check_size_min_usd := CASE origin WHEN 'source' THEN NEW.check_size_min_usd_stated
                                          WHEN 'extracted' THEN NEW.check_size_min_usd_extracted
                                          WHEN 'derived' THEN NEW.check_size_min_usd_derived END;
    NEW.check_size_max_usd := CASE origin WHEN 'source' THEN NEW.check_size_max_usd_stated
                                          WHEN 'extracted' THEN NEW.check_size_max_usd_extracted
                                          WHEN 'derived' THEN NEW.check_size_max_usd_derived END;
  END IF;
  NEW.provenance := jsonb_strip_nulls(provenance || jsonb_build_object('check_size', origin));
  RETURN NEW;
END
$body$;
$fn$, body);
END
$$;

CREATE TRIGGER investors_serve_profile
  BEFORE INSERT OR UPDATE OF
    sector_text_stated, stage_text_stated, check_text_stated, geography_text_stated, signal_text_stated,
    founder_text_stated, sector_text_extracted, stage_text_extracted, check_text_extracted,
    geography_text_extracted, signal_text_extracted, founder_text_extracted, sector_text_derived,
    stage_text_derived, check_text_derived, geography_text_derived, signal_text_derived, founder_text_derived,
    focus_sectors_stated, preferred_stages_stated, geographies_stated, focus_sectors_extracted,
    preferred_stages_extracted, geographies_extracted, focus_sectors_derived, preferred_stages_derived,
    geographies_derived, check_size_min_usd_stated, check_size_max_usd_stated, check_size_min_usd_extracted,
    check_size_max_usd_extracted, check_size_min_usd_derived, check_size_max_usd_derived
  ON investors FOR EACH ROW EXECUTE FUNCTION investors_serve_profile();
