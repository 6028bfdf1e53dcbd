-- Up Migration

-- PostgreSQL roles are the identity across hosts (docs/roles.md). A cancel request through
-- PostgreSQL used to be accepted from any client; now the database itself holds every client (the
-- CLI and anyone writing SQL directly) to one rule: a run may be cancelled by the role that wrote
-- its row, and by the members of scidex_operator (superusers pass as members). The run's host
-- checks again before it signals (src/watchdog/cancel-delivery.ts), for rows that reached the table
-- past this trigger.
--
-- This migration must be run by the tables' owner (an admin: docs/roles.md, "Who migrates"), and
-- the first time in a cluster by a role that may create roles (CREATEROLE), unless an admin has
-- already run `CREATE ROLE scidex_operator NOLOGIN`.

-- The role that first wrote the run row: current_user of its INSERT, set by the trigger below,
-- never by the client (a value the client supplies is overwritten, and an UPDATE keeps the old one,
-- so a later shipper's upsert never takes the run over). Rows written before this migration stay
-- NULL: no role owns them, and only members of scidex_operator may cancel them.
ALTER TABLE watchdog_runs ADD COLUMN db_role name;
-- The role that asked: current_user of the INSERT, set and kept alike.
ALTER TABLE watchdog_cancel_requests ADD COLUMN requested_role name;

-- The operators' role: membership is the permission to cancel any run. Roles belong to the
-- cluster, not to this database, so another database's migration may have created it (or be
-- creating it right now: the loser of that race gets a unique violation on pg_authid, not
-- duplicate_object). A migrating role without CREATEROLE gets one clear error instead of
-- "permission denied to create role".
DO $operator$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'scidex_operator') THEN
    CREATE ROLE scidex_operator NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN
    NULL;
  WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'the role scidex_operator does not exist and role % may not create it', current_user
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'run this migration once as an admin (a role with CREATEROLE), or have one run: CREATE ROLE scidex_operator NOLOGIN';
END
$operator$;

-- Why triggers and not row-level security: a policy can only refuse with "new row violates
-- row-level security policy", which names neither the run nor the roles; RLS would need policies
-- for every command of every role on the table (the deliverers select and update it); and the
-- table's owner is exempt unless it is FORCEd. A trigger raises the message we want and holds every
-- non-superuser; disabling it takes the table's owner or a superuser, and the deliverer's re-check
-- covers that.
--
-- Why the check is split in two: in a SECURITY DEFINER function current_user is the function's
-- owner, so the trigger functions that read current_user run as the invoker (SECURITY INVOKER),
-- and only the lookup of the run's role runs as the owner (SECURITY DEFINER), so that the answer
-- never depends on what the requester may read of watchdog_runs. As PostgreSQL advises for
-- SECURITY DEFINER ("Writing SECURITY DEFINER Functions Safely"), every function here pins
-- search_path to pg_catalog, pg_temp and names our objects with their schema (the schema of
-- watchdog_runs, looked up now: hence the EXECUTE format), so no schema a client can create objects
-- in is ever searched. The functions keep PostgreSQL's default EXECUTE for PUBLIC: the trigger
-- calls them as the requester, and what they tell (a run's role, whether a role is an operator) is
-- no secret from anyone who knows the run's id.
DO $functions$
DECLARE
  schema name := (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.oid = 'watchdog_runs'::regclass);
BEGIN
  EXECUTE format($sql$
    CREATE FUNCTION %1$I.watchdog_runs_db_role() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        NEW.db_role := current_user;
      ELSE
        NEW.db_role := OLD.db_role;
      END IF;
      RETURN NEW;
    END
    $body$;
  $sql$, schema);

  -- Also the deliverers' question (cancel-sql.ts), so both sides ask it the same way. Through
  -- pg_roles by oid: pg_has_role() of a role name that does not exist (dropped since it asked)
  -- raises, and a deliverer must not fail on one bad row. Superusers pass, as pg_has_role says.
  EXECUTE format($sql$
    CREATE FUNCTION %1$I.watchdog_is_operator(candidate name) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $body$
      SELECT coalesce((SELECT who.rolsuper OR coalesce(pg_has_role(who.oid, op.oid, 'MEMBER'), false)
                         FROM pg_roles who LEFT JOIN pg_roles op ON op.rolname = 'scidex_operator'
                        WHERE who.rolname = candidate), false)
    $body$;
  $sql$, schema);

  -- Raises 42501 unless `requester` may cancel run `run`. A run that does not exist passes: the
  -- foreign key then refuses the row with its own error.
  EXECUTE format($sql$
    CREATE FUNCTION %1$I.watchdog_assert_may_cancel(run uuid, requester name) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
    DECLARE
      run_role name;
    BEGIN
      SELECT r.db_role INTO run_role FROM %1$I.watchdog_runs r WHERE r.id = run;
      IF NOT FOUND OR requester = run_role OR %1$I.watchdog_is_operator(requester) THEN
        RETURN;
      END IF;
      -- %% is RAISE's placeholder, doubled for format(). TABLE and COLUMN tell this refusal from
      -- a missing INSERT privilege (also 42501) to the CLI (cancel-sql.ts, isCancelRefusal).
      IF run_role IS NULL THEN
        RAISE EXCEPTION 'role %% may not cancel run %%: it was recorded before runs had roles, and only members of scidex_operator may', requester, run
          USING ERRCODE = 'insufficient_privilege', TABLE = 'watchdog_cancel_requests', COLUMN = 'requested_role';
      END IF;
      RAISE EXCEPTION 'role %% may not cancel run %%: it belongs to role %%, and only that role and members of scidex_operator may', requester, run, run_role
        USING ERRCODE = 'insufficient_privilege', TABLE = 'watchdog_cancel_requests', COLUMN = 'requested_role';
    END
    $body$;
  $sql$, schema);

  -- requested_role is current_user at INSERT and never changes; moving a request to another run is
  -- judged again, as a new request of its requester would be.
  EXECUTE format($sql$
    CREATE FUNCTION %1$I.watchdog_cancel_requests_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        NEW.requested_role := current_user;
      ELSE
        NEW.requested_role := OLD.requested_role;
        IF NEW.run_id IS NOT DISTINCT FROM OLD.run_id THEN
          RETURN NEW;
        END IF;
      END IF;
      PERFORM %1$I.watchdog_assert_may_cancel(NEW.run_id, NEW.requested_role);
      RETURN NEW;
    END
    $body$;
  $sql$, schema);

  EXECUTE format('CREATE TRIGGER watchdog_runs_db_role BEFORE INSERT OR UPDATE ON %1$I.watchdog_runs
                  FOR EACH ROW EXECUTE FUNCTION %1$I.watchdog_runs_db_role()', schema);
  EXECUTE format('CREATE TRIGGER watchdog_cancel_requests_guard BEFORE INSERT OR UPDATE ON %1$I.watchdog_cancel_requests
                  FOR EACH ROW EXECUTE FUNCTION %1$I.watchdog_cancel_requests_guard()', schema);
END
$functions$;

-- Down Migration
DROP TRIGGER watchdog_cancel_requests_guard ON watchdog_cancel_requests;
DROP TRIGGER watchdog_runs_db_role ON watchdog_runs;
DROP FUNCTION watchdog_cancel_requests_guard();
DROP FUNCTION watchdog_assert_may_cancel(uuid, name);
DROP FUNCTION watchdog_is_operator(name);
DROP FUNCTION watchdog_runs_db_role();
ALTER TABLE watchdog_cancel_requests DROP COLUMN requested_role;
ALTER TABLE watchdog_runs DROP COLUMN db_role;
-- scidex_operator stays: roles belong to the cluster, so other databases' scidex-run schemas may
-- still rely on it, and its members and grants are the admin's, not this schema's. An admin who
-- wants it gone runs DROP ROLE scidex_operator once no database uses it.
