-- Up Migration

-- The fleet view (src/query/fleet.ts), read at every refresh of its page (5 s). Which hosts are on
-- it: runs started, beating or ended within the day, by one expression (a heartbeat now rewrites
-- this index too, where it could be a HOT update before: one index entry per heartbeat).
CREATE INDEX watchdog_runs_last_seen_idx ON watchdog_runs ((greatest(started_at, heartbeat_at, ended_at)));
-- The running runs, oldest start first, and their count per host: the few running rows among many
-- ended ones, in the order the view lists them.
CREATE INDEX watchdog_runs_running_idx ON watchdog_runs (started_at, id) WHERE status = 'running';

-- Down Migration
DROP INDEX watchdog_runs_running_idx;
DROP INDEX watchdog_runs_last_seen_idx;
