-- Up Migration

-- One row per run: written when the run starts, rewritten (higher revision) when it ends.
CREATE TABLE watchdog_runs (
  id                 uuid PRIMARY KEY,
  revision           integer NOT NULL,
  analysis_id        text,
  parent_run_id      uuid,
  host               text NOT NULL,
  boot_id            text NOT NULL,
  wrapper_pid        integer NOT NULL,
  wrapper_starttime  bigint NOT NULL,
  pid                integer,
  pgid               integer,
  leader_starttime   bigint,
  argv               text[] NOT NULL,
  cwd                text NOT NULL,
  username           text NOT NULL,
  timeout_ms         bigint NOT NULL,
  memory_limit_bytes bigint NOT NULL,
  grace_ms           bigint NOT NULL,
  orphan_policy      text NOT NULL,
  tracking_backend   text NOT NULL,
  journal_path       text NOT NULL,
  started_at         timestamptz NOT NULL,
  heartbeat_at       timestamptz NOT NULL,
  ended_at           timestamptz,
  status             text NOT NULL CHECK (status IN
                       ('running', 'completed', 'failed', 'timeout', 'out_of_memory', 'cancelled', 'failed_to_start', 'lost')),
  exit_status        integer,
  exit_code          integer,
  signal             text,
  reason             text,
  peak_rss_bytes     bigint NOT NULL DEFAULT 0,
  peak_pss_bytes     bigint,
  cpu_seconds        double precision NOT NULL DEFAULT 0,
  peak_process_count integer NOT NULL DEFAULT 0,
  process_count      integer NOT NULL DEFAULT 0
);
CREATE INDEX watchdog_runs_analysis_id_idx ON watchdog_runs (analysis_id);
CREATE INDEX watchdog_runs_started_at_idx ON watchdog_runs (started_at DESC);
CREATE INDEX watchdog_runs_host_status_idx ON watchdog_runs (host, status);

-- Lifecycle and kill events, each with its full context.
CREATE TABLE watchdog_events (
  id                uuid PRIMARY KEY,
  run_id            uuid NOT NULL REFERENCES watchdog_runs (id) ON DELETE CASCADE,
  analysis_id       text,
  at                timestamptz NOT NULL,
  kind              text NOT NULL,
  reason            text,
  pid               integer,
  pids              integer[] NOT NULL DEFAULT '{}',
  signal            text,
  rss_bytes         bigint,
  pss_bytes         bigint,
  process_rss_bytes bigint,
  elapsed_ms        bigint NOT NULL,
  detail            jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX watchdog_events_run_id_idx ON watchdog_events (run_id, at);
CREATE INDEX watchdog_events_analysis_id_idx ON watchdog_events (analysis_id, at);

-- Every process seen in a run.
CREATE TABLE watchdog_processes (
  run_id          uuid NOT NULL REFERENCES watchdog_runs (id) ON DELETE CASCADE,
  pid             integer NOT NULL,
  starttime       bigint NOT NULL,
  ppid            integer NOT NULL,
  pgid            integer NOT NULL,
  sid             integer NOT NULL,
  comm            text NOT NULL,
  argv            text[] NOT NULL,
  found_by        text NOT NULL,
  first_seen_at   timestamptz NOT NULL,
  last_seen_at    timestamptz NOT NULL,
  peak_rss_bytes  bigint NOT NULL,
  cpu_seconds     double precision NOT NULL,
  fate            text NOT NULL,
  PRIMARY KEY (run_id, pid, starttime)
);

-- Down Migration
DROP TABLE watchdog_processes;
DROP TABLE watchdog_events;
DROP TABLE watchdog_runs;
