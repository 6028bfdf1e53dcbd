-- Up Migration

-- Runs adopted by `scidex-watchdog adopt`: a process someone else started, supervised from then on.
-- Older rows, and every run scidex-run spawned itself, are false.
ALTER TABLE watchdog_runs ADD COLUMN adopted boolean NOT NULL DEFAULT false;

-- Two endings only an adopted run has: `exited`, its process ended by itself and how (its exit
-- status) is unknown to an adopter, which is not its parent; `released`, `scidex-watchdog release`
-- ended the supervision and nothing was signalled.
ALTER TABLE watchdog_runs DROP CONSTRAINT watchdog_runs_status_check;
ALTER TABLE watchdog_runs ADD CONSTRAINT watchdog_runs_status_check CHECK (status IN
  ('running', 'completed', 'failed', 'timeout', 'out_of_memory', 'cancelled', 'failed_to_start', 'lost', 'exited', 'released'));

-- Down Migration
-- The older schema has no word for these endings: the rows stay, as lost runs that say what they were.
UPDATE watchdog_runs SET status = 'lost', reason = 'adopted run ' || status || coalesce(': ' || reason, '')
 WHERE status IN ('exited', 'released');
ALTER TABLE watchdog_runs DROP CONSTRAINT watchdog_runs_status_check;
ALTER TABLE watchdog_runs ADD CONSTRAINT watchdog_runs_status_check CHECK (status IN
  ('running', 'completed', 'failed', 'timeout', 'out_of_memory', 'cancelled', 'failed_to_start', 'lost'));
ALTER TABLE watchdog_runs DROP COLUMN adopted;
