-- Up Migration

-- The run's cgroup v2 directory when it was tracked by the cgroup backend: the reaper kills what is
-- left in it after the wrapper died (only a path ending in /scidex-run/<run id> is ever trusted).
ALTER TABLE watchdog_runs ADD COLUMN cgroup_path text;
-- The wrapper's PID namespace (pid:[inode]): its pids mean nothing in another namespace of the same
-- host and boot (a container with the host's network), so a reaper elsewhere never judges it dead.
ALTER TABLE watchdog_runs ADD COLUMN pid_ns text;
-- Runs whose wrapper is gone are looked up by host and status on every reap.
CREATE INDEX watchdog_runs_host_running ON watchdog_runs (host) WHERE status = 'running';

-- Down Migration
DROP INDEX watchdog_runs_host_running;
ALTER TABLE watchdog_runs DROP COLUMN pid_ns;
ALTER TABLE watchdog_runs DROP COLUMN cgroup_path;
