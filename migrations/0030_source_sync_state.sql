-- What the platform has synced of each source table: the delta-sync watermark.
-- Written in the same transaction as the load it describes, so it only ever moves
-- past rows that are committed (loaded or quarantined).
CREATE TABLE source_sync_state (
  table_name   text PRIMARY KEY,
  watermark    timestamptz,  -- latest source updated_at among the rows synced so far
  fingerprint  text,         -- the source's cheap change marker when that sync began
  last_mode    text NOT NULL CHECK (last_mode IN ('full', 'delta')),
  last_run_id  text NOT NULL,
  synced_at    timestamptz NOT NULL DEFAULT now()
);
