-- Up Migration

-- Cancel requests for runs of another host (`scidex-watchdog cancel`). The host that asks cannot
-- signal a wrapper it does not share a kernel with, so it leaves a row here and NOTIFYs
-- `scidex_cancel` with the run's host; the run's host (its `serve` daemon, or a cron'd
-- `cancel --deliver`) delivers it through its own state directory and marks it handled.
-- A row alone never justifies a signal: the deliverer acts only on a marker of its own state
-- directory whose wrapper passes the pid + starttime check.
CREATE TABLE watchdog_cancel_requests (
  id           uuid PRIMARY KEY,
  run_id       uuid NOT NULL REFERENCES watchdog_runs (id) ON DELETE CASCADE,
  -- The run's host, copied from the run row: the deliverers select by it.
  host         text NOT NULL,
  signal       text NOT NULL CHECK (signal IN ('SIGINT', 'SIGTERM', 'SIGHUP')),
  reason       text,
  -- `user@host pid N` of the scidex-watchdog that asked.
  requested_by text NOT NULL,
  requested_at timestamptz NOT NULL,
  -- Set once by the deliverer that handled it (rows are taken FOR UPDATE SKIP LOCKED).
  handled_at   timestamptz,
  handled_by   text,
  outcome      text CHECK (outcome IN ('delivered', 'ended', 'no_such_run', 'refused'))
);
-- The deliverers' question, every second: anything pending for my host?
CREATE INDEX watchdog_cancel_requests_pending_idx ON watchdog_cancel_requests (host, requested_at) WHERE handled_at IS NULL;
CREATE INDEX watchdog_cancel_requests_run_id_idx ON watchdog_cancel_requests (run_id);

-- Down Migration
DROP TABLE watchdog_cancel_requests;
