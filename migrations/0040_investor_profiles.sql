-- Investor profiles: what the source states and what is derived from the investment graph,
-- kept apart, and the served value the readers use (find_investors, the embeddings).
--
-- For each of the six dimension texts and each typed preference (focus_sectors,
-- preferred_stages, geographies, the check size range) there are now three columns:
--   <x>_stated   what the source says (the loader writes it; NULL, blank or [] says nothing),
--   <x>_derived  what the investor_profiles asset derived from the investment graph,
--   <x>          the served value: stated when the source says something, else derived.
-- A trigger keeps the served value in step whenever a stated or derived value changes, in the
-- same statement, so a source value always wins, a cleared source value lets the derived one
-- back, and a served text (and so its hash and vector) changes only when its winner changes.
-- The check size range is one pair: the stated pair when the source states either end.
-- provenance says, per field, which one serves ('source' or 'derived'); profile_version is
-- the template version of the derived values.

DO $$
DECLARE
  field text;
BEGIN
  FOREACH field IN ARRAY ARRAY['sector_text', 'stage_text', 'check_text', 'geography_text', 'signal_text',
                               'founder_text'] LOOP
    EXECUTE format('ALTER TABLE investors ADD COLUMN %1$s_stated text, ADD COLUMN %1$s_derived text', field);
    EXECUTE format('UPDATE investors SET %1$s_stated = %1$s WHERE %1$s IS NOT NULL', field);
  END LOOP;
  FOREACH field IN ARRAY ARRAY['focus_sectors', 'preferred_stages', 'geographies'] LOOP
    EXECUTE format('ALTER TABLE investors ADD COLUMN %1$s_stated text[], ADD COLUMN %1$s_derived text[]', field);
    EXECUTE format('UPDATE investors SET %1$s_stated = %1$s WHERE %1$s IS NOT NULL', field);
  END LOOP;
  FOREACH field IN ARRAY ARRAY['check_size_min_usd', 'check_size_max_usd'] LOOP
    EXECUTE format('ALTER TABLE investors ADD COLUMN %1$s_stated bigint, ADD COLUMN %1$s_derived bigint', field);
    EXECUTE format('UPDATE investors SET %1$s_stated = %1$s WHERE %1$s IS NOT NULL', field);
  END LOOP;
END
$$;

ALTER TABLE investors
  ADD COLUMN provenance         jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN profile_version    text,
  ADD COLUMN profile_derived_at timestamptz,
  ADD CONSTRAINT investors_check_size_derived_order
    CHECK (check_size_min_usd_derived IS NULL OR check_size_max_usd_derived IS NULL
           OR check_size_min_usd_derived <= check_size_max_usd_derived);

-- The function body is generated, one block per field, so the six texts and three lists
-- cannot drift apart.
DO $$
DECLARE
  body text := '';
  field text;
  says text;
BEGIN
  FOREACH field IN ARRAY ARRAY['sector_text', 'stage_text', 'check_text', 'geography_text', 'signal_text',
                               'founder_text', 'focus_sectors', 'preferred_stages', 'geographies'] LOOP
    says := CASE WHEN field LIKE '%_text' THEN format('NEW.%1$s_stated !~ ''^[[:space:]]*$''', field)
                 ELSE format('cardinality(NEW.%1$s_stated) > 0', field) END;
    body := body || format($f$
  origin := CASE WHEN COALESCE(%2$s, false) THEN 'source'
                 WHEN NEW.%1$s_derived IS NOT NULL THEN 'derived' END;
  IF TG_OP = 'INSERT' AND origin IS NOT NULL
     OR TG_OP = 'UPDATE' AND (NEW.%1$s_stated IS DISTINCT FROM OLD.%1$s_stated
                              OR NEW.%1$s_derived IS DISTINCT FROM OLD.%1$s_derived) THEN
    NEW.%1$s := CASE origin WHEN 'source' THEN NEW.%1$s_stated WHEN 'derived' THEN NEW.%1$s_derived END;
  END IF;
  provenance := provenance || jsonb_build_object(%3$L, origin);
$f$, field, says, field);
  END LOOP;
  EXECUTE format($fn$
CREATE FUNCTION investors_serve_profile() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
  origin text;
  provenance jsonb := '{}';
BEGIN
%s
  origin := CASE WHEN NEW.check_size_min_usd_stated IS NOT NULL OR NEW.check_size_max_usd_stated IS NOT NULL
                   THEN 'source'
                 WHEN NEW.check_size_min_usd_derived IS NOT NULL OR NEW.check_size_max_usd_derived IS NOT NULL
                   THEN 'derived' END;
  IF TG_OP = 'INSERT' AND origin IS NOT NULL
     OR TG_OP = 'UPDATE' AND (ROW(NEW.check_size_min_usd_stated, NEW.check_size_max_usd_stated,
                                  NEW.check_size_min_usd_derived, NEW.check_size_max_usd_derived)
                              IS DISTINCT FROM ROW(OLD.check_size_min_usd_stated, OLD.check_size_max_usd_stated,
                                                   OLD.check_size_min_usd_derived, OLD.check_size_max_usd_derived)) THEN
    NEW.check_size_min_usd := CASE origin WHEN 'source' THEN NEW.check_size_min_usd_stated
                                          WHEN 'derived' THEN NEW.check_size_min_usd_derived END;
    NEW.check_size_max_usd := CASE origin WHEN 'source' THEN NEW.check_size_max_usd_stated
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
    founder_text_stated, sector_text_derived, stage_text_derived, check_text_derived, geography_text_derived,
    signal_text_derived, founder_text_derived, focus_sectors_stated, preferred_stages_stated, geographies_stated,
    focus_sectors_derived, preferred_stages_derived, geographies_derived, check_size_min_usd_stated,
    check_size_max_usd_stated, check_size_min_usd_derived, check_size_max_usd_derived
  ON investors FOR EACH ROW EXECUTE FUNCTION investors_serve_profile();

-- Existing rows: their served values were the source's; record that.
UPDATE investors SET sector_text_stated = sector_text_stated;
