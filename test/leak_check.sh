#!/bin/bash
# Memory-growth check of softdelete's error paths.
#
# Usage: test/leak_check.sh PORT [HOST]
#   Connects with psql to HOST:PORT (HOST defaults to $PGHOST, else the
#   default socket directory) as $PGUSER, who must be a superuser, through
#   database $PGDATABASE (default postgres). The server must have softdelete
#   installed (shared_preload_libraries is not needed).
#   Environment: ITERATIONS (default 20000), WARMUP (100), THRESHOLD_KB (5120,
#   i.e. 5 MB), CHECK_EVERY (100).
#
# In a scratch database (softdelete_leak_check, dropped at the end) and in ONE
# backend, every error path below is taken ITERATIONS times in a PL/pgSQL loop
# whose EXCEPTION block catches exactly the expected condition (any other
# error stops the check; a statement that does not fail is reported with the
# verdict NO ERROR and makes the check exit 2). The backend's
# memory is sampled:
#   contexts  sum(total_bytes) of pg_backend_memory_contexts
#   VmRSS / RssAnon / VmHWM  from /proc/<backend pid>/status
# at the start and end of the loop's transaction ("in-tx": memory that lives
# until the transaction ends) and between statements, before and after the
# loop ("session": what stays after commit). C++ allocations (exceptions,
# std::string) are malloc'd: invisible to memory contexts, not to RssAnon.
# VmRSS also counts shared buffers the backend touches (not a leak), so the
# verdict uses contexts and RssAnon; VmRSS is reported.
# Every CHECK_EVERY iterations a loop looks at its own growth and stops as
# soon as it is over the threshold, so a real leak fails fast instead of
# taking the machine's memory (the report then shows fewer iterations).
#
# Exit 0 when no scenario grows more than THRESHOLD_KB, 1 when one does,
# 2 when the check itself could not run or a path raised no error.
set -u

PORT=${1:?usage: $0 PORT [HOST]}
HOST=${2:-${PGHOST:-}}
ITERATIONS=${ITERATIONS:-20000}
WARMUP=${WARMUP:-100}
THRESHOLD_KB=${THRESHOLD_KB:-5120}
CHECK_EVERY=${CHECK_EVERY:-100}
DB=softdelete_leak_check
ADMIN_DB=${PGDATABASE:-postgres}

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -p "$PORT")
[ -n "$HOST" ] && PSQL+=(-h "$HOST")

work=$(mktemp -d "${TMPDIR:-/tmp}/leak_check.XXXXXX") || exit 2
chmod 755 "$work"

cleanup_sql() {
    cat <<'SQL'
SET client_min_messages = warning;
DROP DATABASE IF EXISTS softdelete_leak_check;
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['leak_owner', 'leak_app', 'leak_reader', 'leak_nosy'] LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;
SQL
}

cleanup() {
    cleanup_sql | "${PSQL[@]}" -d "$ADMIN_DB" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# Leftovers of an interrupted run, then a fresh scratch database.
if ! cleanup_sql | "${PSQL[@]}" -d "$ADMIN_DB" >"$work/setup.log" 2>&1 ||
   ! "${PSQL[@]}" -d "$ADMIN_DB" -c "CREATE DATABASE $DB" >>"$work/setup.log" 2>&1; then
    echo "leak_check: cannot prepare the scratch database:" >&2
    cat "$work/setup.log" >&2
    exit 2
fi

# One loop over one statement. $1 name, $2 role, $3 condition(s) caught,
# $4 statement(s), $5 setup before the loop (same session), $6 teardown.
scenario() {
    local name=$1 role=$2 cond=$3 stmt=$4 setup=${5:-} teardown=${6:-}
    cat <<SQL
-- scenario $name
$setup
SET ROLE $role;
DO \$leak\$
DECLARE failed int := 0;
BEGIN
    FOR i IN 1..$WARMUP LOOP
        BEGIN
            $stmt;
        EXCEPTION WHEN $cond THEN
            failed := failed + 1;
        END;
    END LOOP;
    PERFORM leak_s.sample('$name', 'warmup', $WARMUP, failed);
END
\$leak\$;
SELECT leak_s.sample('$name', 'before', 0, 0);
DO \$leak\$
DECLARE
    failed int := 0;
    done int := 0;
    m0 record;
    m1 record;
BEGIN
    SELECT * INTO m0 FROM leak_s.mem();
    PERFORM leak_s.sample('$name', 'tx_start', 0, 0);
    FOR i IN 1..$ITERATIONS LOOP
        BEGIN
            $stmt;
        EXCEPTION WHEN $cond THEN
            failed := failed + 1;
        END;
        done := i;
        IF i % $CHECK_EVERY = 0 THEN
            SELECT * INTO m1 FROM leak_s.mem();
            EXIT WHEN (m1.contexts - m0.contexts) / 1024 > $THRESHOLD_KB
                   OR m1.anon_kb - m0.anon_kb > $THRESHOLD_KB;
        END IF;
    END LOOP;
    PERFORM leak_s.sample('$name', 'tx_end', done, failed);
END
\$leak\$;
SELECT leak_s.sample('$name', 'after', 0, 0);
RESET ROLE;
$teardown
SQL
}

{
    cat <<'SQL'
\o /dev/null
LOAD 'softdelete';
SET client_min_messages = warning;
CREATE EXTENSION softdelete;
CREATE ROLE leak_owner;
CREATE ROLE leak_app;
CREATE ROLE leak_reader IN ROLE softdelete_reader;
-- Owns an enabled table of its own, so it may opt in, but is no reader of
-- leak_s.users.
CREATE ROLE leak_nosy;
CREATE SCHEMA leak_s AUTHORIZATION leak_owner;
GRANT USAGE ON SCHEMA leak_s TO leak_app, leak_reader;
GRANT USAGE, CREATE ON SCHEMA leak_s TO leak_nosy;

-- Samples of this backend's memory; SECURITY DEFINER so that the loops can
-- sample under any role.
CREATE TABLE leak_s.samples (
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    scenario   text, phase text, iterations int, errors int,
    contexts   bigint, vmrss_kb bigint, anon_kb bigint, hwm_kb bigint);
CREATE FUNCTION leak_s.mem(OUT contexts bigint, OUT vmrss_kb bigint, OUT anon_kb bigint, OUT hwm_kb bigint)
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
AS $$
    SELECT (SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts),
           substring(s FROM 'VmRSS:\s+(\d+) kB')::bigint,
           substring(s FROM 'RssAnon:\s+(\d+) kB')::bigint,
           substring(s FROM 'VmHWM:\s+(\d+) kB')::bigint
      FROM pg_read_file('/proc/' || pg_backend_pid() || '/status') AS s
$$;
CREATE FUNCTION leak_s.sample(scenario text, phase text, iterations int, errors int) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
AS $$
    INSERT INTO leak_s.samples (scenario, phase, iterations, errors, contexts, vmrss_kb, anon_kb, hwm_kb)
    SELECT scenario, phase, iterations, errors, m.* FROM leak_s.mem() m
$$;
GRANT EXECUTE ON FUNCTION leak_s.mem(), leak_s.sample(text, text, int, int)
    TO leak_owner, leak_app, leak_reader, leak_nosy;

SET ROLE leak_owner;
CREATE TABLE leak_s.users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
INSERT INTO leak_s.users SELECT g, 'u' || g || '@x' FROM generate_series(1, 100) g;
CREATE TABLE leak_s.no_pk (id int);
CREATE VIEW leak_s.users_view AS SELECT * FROM leak_s.users;
SELECT count(*) FROM softdelete.enable('leak_s.users');
GRANT SELECT, INSERT, UPDATE, DELETE ON leak_s.users TO leak_app;
GRANT SELECT ON leak_s.users TO leak_reader, leak_nosy;
DELETE FROM leak_s.users WHERE id = 2;
SET ROLE leak_nosy;
CREATE TABLE leak_s.own (id int PRIMARY KEY);
SELECT count(*) FROM softdelete.enable('leak_s.own');
RESET ROLE;
RESET client_min_messages;

-- The event log refuses inserts, for the scenario of a PostgreSQL error
-- raised inside the module's C++ code (pg_guard -> PgError -> entry_guard).
CREATE FUNCTION leak_s.refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is closed' USING ERRCODE = 'SD001',
        DETAIL = 'leak_check', HINT = 'leak_check';
END
$$;
SQL
    # Control: an error that never enters the module.
    scenario control leak_app division_by_zero "PERFORM 1 / (i - i)"
    # C++ PgError from softdelete._check_target through entry_guard.
    scenario enable_catalog leak_owner feature_not_supported "PERFORM softdelete.enable('pg_class')"
    scenario enable_no_pk leak_owner invalid_table_definition "PERFORM softdelete.enable('leak_s.no_pk')"
    scenario enable_view leak_owner wrong_object_type "PERFORM softdelete.enable('leak_s.users_view')"
    # C++ PgError from the planner support function (plan time).
    scenario include_plan_time leak_nosy insufficient_privilege \
        "EXECUTE 'SELECT count(*) FROM leak_s.users'" \
        "SET ROLE leak_nosy; SET softdelete.include_deleted = on;" \
        "RESET softdelete.include_deleted;"
    # The GUC check hook's refusal.
    scenario include_set leak_app insufficient_privilege \
        "PERFORM set_config('softdelete.include_deleted', 'on', false)"
    # ereport from the planner hook (C++ frames, PG regime).
    scenario restore_update_refused leak_app insufficient_privilege \
        "UPDATE leak_s.users SET deleted_at = NULL WHERE id = 2"
    # SET LOCAL softdelete.hard_delete = on; DELETE ... by a non-admin.
    scenario hard_delete_refused leak_app insufficient_privilege \
        "PERFORM set_config('softdelete.hard_delete', 'on', true); DELETE FROM leak_s.users WHERE id = 3"
    # ereport from the TRUNCATE guard trigger.
    scenario truncate_refused leak_owner object_not_in_prerequisite_state "TRUNCATE leak_s.users"
    # A PostgreSQL error inside C++ code: pg_guard -> PgError -> entry_guard.
    scenario event_log_error leak_app "SQLSTATE 'SD001'" \
        "DELETE FROM leak_s.users WHERE id = 1" \
        "CREATE TRIGGER leak_refuse BEFORE INSERT ON softdelete.events FOR EACH ROW EXECUTE FUNCTION leak_s.refuse_events();" \
        "DROP TRIGGER leak_refuse ON softdelete.events;"
    # The SQL API's refusals: restore()/hard_delete() by a non-admin, and of
    # keys that name no row, or a row that is not deleted.
    scenario restore_fn_refused leak_app insufficient_privilege \
        "PERFORM softdelete.restore('leak_s.users', 2)"
    scenario hard_delete_fn_refused leak_app insufficient_privilege \
        "PERFORM softdelete.hard_delete('leak_s.users', 2)"
    scenario restore_no_row leak_owner "no_data_found OR object_not_in_prerequisite_state" \
        "PERFORM softdelete.restore('leak_s.users', 99999)"
    scenario restore_live_row leak_owner object_not_in_prerequisite_state \
        "PERFORM softdelete.restore('leak_s.users', 5)"
    scenario hard_delete_no_row leak_owner no_data_found \
        "PERFORM softdelete.hard_delete('leak_s.users', 99999)"
    cat <<SQL
\\o
\\pset footer off
WITH s AS (
    SELECT scenario, min(seq) AS first,
           max(iterations) FILTER (WHERE phase = 'tx_end') AS iterations,
           sum(iterations) FILTER (WHERE phase IN ('warmup', 'tx_end'))
             - sum(errors) FILTER (WHERE phase IN ('warmup', 'tx_end')) AS no_error,
           max(contexts) FILTER (WHERE phase = 'before') AS ctx_before,
           max(contexts) FILTER (WHERE phase = 'after') AS ctx_after,
           max(contexts) FILTER (WHERE phase = 'tx_start') AS ctx_tx_start,
           max(contexts) FILTER (WHERE phase = 'tx_end') AS ctx_tx_end,
           max(vmrss_kb) FILTER (WHERE phase = 'before') AS rss_before,
           max(vmrss_kb) FILTER (WHERE phase = 'after') AS rss_after,
           max(anon_kb) FILTER (WHERE phase = 'before') AS anon_before,
           max(anon_kb) FILTER (WHERE phase = 'after') AS anon_after,
           max(anon_kb) FILTER (WHERE phase = 'tx_start') AS anon_tx_start,
           max(anon_kb) FILTER (WHERE phase = 'tx_end') AS anon_tx_end,
           max(hwm_kb) FILTER (WHERE phase = 'before') AS hwm_before,
           max(hwm_kb) FILTER (WHERE phase = 'after') AS hwm_after
      FROM leak_s.samples GROUP BY scenario
), d AS (
    SELECT *, (ctx_after - ctx_before) / 1024 AS ctx_kb, (ctx_tx_end - ctx_tx_start) / 1024 AS ctx_tx_kb,
           anon_after - anon_before AS anon_kb, anon_tx_end - anon_tx_start AS anon_tx_kb,
           rss_after - rss_before AS rss_kb, hwm_after - hwm_before AS hwm_kb
      FROM s
)
SELECT scenario, iterations,
       ctx_before / 1024 AS "contexts kB before", ctx_kb AS "session growth", ctx_tx_kb AS "in-tx growth",
       anon_kb AS "RssAnon kB session growth", anon_tx_kb AS "in-tx growth",
       rss_before AS "VmRSS kB before", rss_after AS "after", hwm_kb AS "VmHWM growth",
       CASE WHEN no_error > 0 THEN 'NO ERROR'
            WHEN greatest(ctx_kb, ctx_tx_kb, anon_kb, anon_tx_kb) > $THRESHOLD_KB
                 OR iterations < $ITERATIONS
            THEN 'LEAK' ELSE 'ok' END AS verdict
  FROM d ORDER BY first;
SQL
} >"$work/check.sql"

if ! "${PSQL[@]}" -d "$DB" -f "$work/check.sql" >"$work/report.txt" 2>"$work/errors.txt"; then
    echo "leak_check: the check did not run to the end:" >&2
    cat "$work/errors.txt" "$work/report.txt" >&2
    exit 2
fi
cat "$work/report.txt"
if grep -q '| LEAK *$' "$work/report.txt"; then
    echo "leak_check: FAILED: memory grew by more than $THRESHOLD_KB kB within $ITERATIONS iterations" \
         "(a scenario with fewer iterations stopped as soon as it was over)" >&2
    exit 1
fi
if grep -q '| NO ERROR *$' "$work/report.txt"; then
    echo "leak_check: a statement that should fail did not (verdict NO ERROR): that path was not checked" >&2
    exit 2
fi
if ! grep -q '| ok *$' "$work/report.txt"; then
    echo "leak_check: no verdict in the report" >&2
    exit 2
fi
echo "leak_check: ok (threshold $THRESHOLD_KB kB over $ITERATIONS iterations per error path)"
exit 0
