-- Up Migration

-- The tree's memory and CPU over a run's life, for dashboards: one row every sample interval
-- (10 s by default) and one at each new peak of tree RSS. Written to the journal as the run goes and
-- shipped with its heartbeats, so a dashboard lags a running run by at most one heartbeat.
CREATE TABLE watchdog_samples (
  id            uuid PRIMARY KEY,
  run_id        uuid NOT NULL REFERENCES watchdog_runs (id) ON DELETE CASCADE,
  at            timestamptz NOT NULL,
  elapsed_ms    bigint NOT NULL,
  rss_bytes     bigint NOT NULL,
  -- Only read when RSS was over the limit (smaps_rollup is dear): null otherwise.
  pss_bytes     bigint,
  cpu_seconds   double precision NOT NULL,
  process_count integer NOT NULL,
  -- Written because tree RSS reached a new high, not because the interval came round.
  peak          boolean NOT NULL DEFAULT false
);
CREATE INDEX watchdog_samples_run_id_idx ON watchdog_samples (run_id, at);
-- prune deletes by age.
CREATE INDEX watchdog_samples_at_idx ON watchdog_samples (at);

-- Down Migration
DROP TABLE watchdog_samples;
