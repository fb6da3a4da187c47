#!/usr/bin/env bash
# `uringmig status --state-dir DIR [--json]` reads the state store offline:
# - no state.db in DIR: exit 2 and one line naming DIR;
# - a state written by a job (here: by the sqlite3 CLI, schema version 1 of
#   engine/core/state_store.cpp): the run, per-table chunk and index progress, totals;
#   --json prints one valid JSON object.
# No database connection is made.
#
# Environment (set by tests/CMakeLists.txt): URINGMIG_BIN.
set -euo pipefail
: "${URINGMIG_BIN:?URINGMIG_BIN must name the uringmig binary}"

abs() { case $1 in */*) realpath -- "$1" ;; *) printf '%s\n' "$1" ;; esac; }
URINGMIG_BIN=$(abs "$URINGMIG_BIN")

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cd "$work"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
show() {  # name: print what the command wrote, for the log
  echo "--- $1 stdout:"; cat "$work/$1.out"
  echo "--- $1 stderr:"; cat "$work/$1.err"
}
run() {  # name args...: runs uringmig; sets rc. Output in $work/NAME.{out,err}.
  local name=$1
  shift
  rc=0
  timeout 60 "$URINGMIG_BIN" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
  show "$name"
}

# ---- no state ---------------------------------------------------------------------------------
run none status --state-dir "$work/none"
[ "$rc" -eq 2 ] || fail "none: exit code $rc, want 2"
want="uringmig: no job state in $work/none (run a job with --state-dir $work/none first)"
n=$(grep -c '^uringmig: ' "$work/none.err" || true)
[ "$n" -eq 1 ] || fail "none: $n error lines on stderr, want exactly 1"
grep -qxF "$want" "$work/none.err" || fail "none: stderr lacks: $want"
[ ! -e "$work/none" ] || fail "none: status created the state directory"

# ---- a state written by a job -----------------------------------------------------------------
mkdir "$work/state"
sqlite3 "$work/state/state.db" >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
CREATE TABLE run (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,
  command TEXT NOT NULL, preset TEXT NOT NULL DEFAULT '', source_redacted TEXT NOT NULL DEFAULT '',
  target_redacted TEXT NOT NULL DEFAULT '', snapshot TEXT, status TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '');
CREATE TABLE job_table (schema TEXT NOT NULL, name TEXT NOT NULL, plan_order INTEGER NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0, rows_estimate INTEGER NOT NULL DEFAULT 0,
  chunk_count INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'pending',
  rows_copied INTEGER NOT NULL DEFAULT 0, bytes_copied INTEGER NOT NULL DEFAULT 0,
  copy_seconds REAL NOT NULL DEFAULT 0, index_seconds REAL NOT NULL DEFAULT 0, error TEXT,
  PRIMARY KEY (schema, name)) WITHOUT ROWID;
CREATE TABLE chunk (schema TEXT NOT NULL, name TEXT NOT NULL, chunk_no INTEGER NOT NULL,
  kind TEXT NOT NULL, lower TEXT, upper TEXT, where_sql TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending', rows INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
  PRIMARY KEY (schema, name, chunk_no)) WITHOUT ROWID;
CREATE TABLE job_index (schema TEXT NOT NULL, table_name TEXT NOT NULL, index_name TEXT NOT NULL,
  kind TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', seconds REAL NOT NULL DEFAULT 0,
  error TEXT, PRIMARY KEY (schema, table_name, index_name)) WITHOUT ROWID;
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 1;

INSERT INTO run VALUES (1, '2024-05-01T12:00:00.000Z', '2024-05-01T12:05:12.000Z', 'run', 'bulk',
  'postgresql://u:****@src/db', 'postgresql://u:****@dst/db', '00000003-0000001B-1',
  'interrupted', 'interrupted, resume with the same command');
INSERT INTO job_table VALUES
  ('public', 'accounts', 0, 400000000, 3000000, 3, 'copying', 2000000, 250000000, 0, 0, NULL),
  ('public', 'branches', 1, 8192, 30, 1, 'done', 30, 1500, 0.02, 0.01, NULL);
INSERT INTO chunk VALUES
  ('public', 'accounts', 0, 'int_range', NULL, '1000001', 'aid < 1000001', 'done',
   1000000, 125000000, 4.5, 1, NULL),
  ('public', 'accounts', 1, 'int_range', '1000001', '2000001', 'aid >= 1000001 AND aid < 2000001',
   'done', 1000000, 125000000, 4.4, 1, NULL),
  ('public', 'accounts', 2, 'int_range', '2000001', NULL, 'aid >= 2000001', 'pending',
   0, 0, 0, 0, NULL),
  ('public', 'branches', 0, 'whole', NULL, NULL, '', 'done', 30, 1500, 0.02, 1, NULL);
INSERT INTO job_index VALUES
  ('public', 'accounts', 'accounts_pkey', 'primary_key', 'pending', 0, NULL),
  ('public', 'branches', 'branches_pkey', 'primary_key', 'done', 0.01, NULL);
INSERT INTO kv VALUES ('phase.pre_data', 'done');
SQL

run human status --state-dir "$work/state"
[ "$rc" -eq 0 ] || fail "human: exit code $rc, want 0"
grep -qE '^run +#1 run --preset bulk: interrupted$' "$work/human.out" || fail "human: no run line"
grep -qF '(5m12s)' "$work/human.out" || fail "human: no run duration"
grep -qE '^snapshot +00000003-0000001B-1$' "$work/human.out" || fail "human: no snapshot"
grep -qE '^public\.accounts +copying +2/3 +2000000 +250\.0 +0/1 ' "$work/human.out" ||
  fail "human: no accounts line with 2/3 chunks, rows, MB and 0/1 indexes"
grep -qE '^public\.branches +done +1/1 +30 +0\.0 +1/1 ' "$work/human.out" ||
  fail "human: no branches line"
grep -qE '^total \(2 tables, 1 done\) +3/4 +2000030 +250\.0 +1/2$' "$work/human.out" ||
  fail "human: no totals line"
grep -q 'phase.pre_data = done' "$work/human.out" || fail "human: no phase mark"

run json status --state-dir "$work/state" --json
[ "$rc" -eq 0 ] || fail "json: exit code $rc, want 0"
[ "$(awk 'END { print NR }' "$work/json.out")" -eq 1 ] || fail "json: not one line"
# SQLite's JSON functions check the output (sqlite3 is a test dependency already).
q() { sqlite3 :memory: "SELECT $1 FROM (SELECT CAST(readfile('$work/json.out') AS TEXT) AS j)"; }
[ "$(q 'json_valid(j)')" = 1 ] || fail "json: not valid JSON"
[ "$(q "json_extract(j, '\$.last_run.status')")" = interrupted ] || fail "json: last_run.status"
[ "$(q "json_extract(j, '\$.tables[0].chunks_done')")" = 2 ] || fail "json: tables[0].chunks_done"
[ "$(q "json_extract(j, '\$.totals.rows')")" = 2000030 ] || fail "json: totals.rows"
[ "$(q "json_extract(j, '\$.live')")" = 0 ] || fail "json: live"

# Not a state database: one clear line, exit 1.
mkdir "$work/bad" && echo "not a database" >"$work/bad/state.db"
run bad status --state-dir "$work/bad"
[ "$rc" -eq 1 ] || fail "bad: exit code $rc, want 1"
grep -q '^uringmig: .*is not a uringmig state database' "$work/bad.err" ||
  fail "bad: stderr does not say the file is not a state database"

if [ "$failures" -ne 0 ]; then
  echo "status_test: $failures check(s) failed" >&2
  exit 1
fi
echo "status_test: all checks passed"
