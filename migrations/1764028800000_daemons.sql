-- Up Migration

-- One row per host running `scidex-watchdog serve`: its heartbeat, rewritten at every sweep, so
-- `scidex-watchdog status` (from any host) tells a live daemon from a stale one by the age of
-- heartbeat_at against interval_ms.
CREATE TABLE watchdog_daemons (
  host          text PRIMARY KEY,
  pid           integer NOT NULL,
  started_at    timestamptz NOT NULL,
  heartbeat_at  timestamptz NOT NULL,
  interval_ms   bigint NOT NULL,
  version       text NOT NULL,
  -- The address the daemon serves /metrics and /status on (HOST:PORT).
  listen        text
);
-- The daemon's /status reads the latest events of its host at every sweep.
CREATE INDEX watchdog_events_at_idx ON watchdog_events (at DESC);

-- Down Migration
DROP INDEX watchdog_events_at_idx;
DROP TABLE watchdog_daemons;
