#!/usr/bin/env bash
# uses-fixture: pg
# --http on an online job (run --preset online): the status shows the follow phase and the CDC
# fields (schema-checked), /metrics passes promtool while following; a pause holds the source's
# new rows back from the target (checked on the target and in the pushed documents) until
# resume, also when the pause outlasts the source's wal_sender_timeout (1 s for this job's
# sessions: the walsender keeps getting standby status updates, the same one streams on after
# resume, nothing is lost); a refused switchover (no token, wrong token) changes nothing; POST /api/v1/switchover
# does what `uringmig switchover` does: the follower ends with exit 0 and the target equals the
# source. Then /stop on a follower stops it as SIGTERM does.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/pg.sh"
. "$here/lib/hold.sh"
. "$here/lib/http.sh"
src=httpf_src_$$
dst=httpf_dst_$$
new_db "$src"
new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table items (id bigserial primary key, v text);
insert into items (v) select 'v' || g from generate_series(1, 5000) g;
SQL
sums() { table_sums "$1" | grep -v '^uringmig\.'; }
cat >job.toml <<'EOF2'
[http]
token = "${UM_HTTP_TOKEN}"
EOF2
export UM_HTTP_TOKEN="follow-tok-$$"
# A walsender that hears nothing for 1 s ends the replication connection.
short_timeout="$(url "$src")&options=-c%20wal_sender_timeout%3D1s"
"$bin" run --preset online --config job.toml --source "$short_timeout" --target "$(url "$dst")" \
  --state-dir st --http "127.0.0.1:0" >run.out 2>run.err &
pid=$!
port=$(served_port run.err "$pid") || { fail "the job never served: $(tail -3 run.err)"; exit 1; }
# The live phase and the state store's mark (read at most once a second) both say follow.
wait_api "$pid" '.phase == "follow" and .cdc.active and .marks["online.phase"] == "follow"' ||
  fail "never following over HTTP: $(tail -3 run.err)"
api /api/v1/status >status.json
$probe validate "$status_schema" status.json || fail "follow status does not fit the schema"
psql -qX -d "$src" -c "insert into items (v) values ('live')" >/dev/null
wait_true "$dst" "select count(*) = 5001 from items" || fail "a live insert never arrived"
wait_api "$pid" '.cdc.applied_lsn != null' || fail "no applied LSN"
api /metrics >metrics.txt
promtool check metrics <metrics.txt || fail "promtool rejects the follow scrape"
grep -q '^uringmig_phase{phase="follow"} 1' metrics.txt || fail "phase gauge while following"
grep -q '^uringmig_target_transaction_duration_seconds_count [1-9]' metrics.txt ||
  fail "no target transaction in the histogram"

# Pause: what the source commits now stays away from the target until resume. The pause
# lasts until the walsender has taken a standby status update 2.5 s (2.5 timeouts) after it
# began: the connection outlived the timeout, and the same walsender streams on.
walsender() {
  psql -qXAt -d "$src" -c "select active_pid from pg_replication_slots where database = current_database()"
}
wsnd=$(walsender)
[ "$(post /api/v1/pause "$UM_HTTP_TOKEN")" = 200 ] || fail "pause: $(cat post.out)"
wait_api "$pid" '.paused' || fail "not paused"
paused_at=$(psql -qXAt -d "$src" -c "select now()")
psql -qX -d "$src" -c "insert into items (v) select 'paused' from generate_series(1, 100)" >/dev/null
wait_true "$src" "select coalesce(bool_or(reply_time > '$paused_at'::timestamptz + interval '2.5 s'), false)
                  from pg_stat_replication where pid = $wsnd" ||
  fail "the walsender took no status update 2.5 s into the pause: $(tail -3 run.err)"
[ "$(walsender)" = "$wsnd" ] || fail "the replication connection did not survive the pause"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from items")" = 5001 ] ||
  fail "rows arrived while paused"
[ "$(post /api/v1/switchover)" = 401 ] || fail "switchover without a token: not 401"
[ "$(post /api/v1/switchover nope)" = 401 ] || fail "switchover with a wrong token: not 401"
[ "$(post /api/v1/resume "$UM_HTTP_TOKEN")" = 200 ] || fail "resume: $(cat post.out)"
wait_true "$dst" "select count(*) = 5101 from items" || fail "the paused rows never arrived"
[ "$(walsender)" = "$wsnd" ] || fail "the walsender changed across the pause"
grep -q "reconnect" run.err && fail "the follower reconnected: $(grep reconnect run.err | head -2)"
kill -0 "$pid" || fail "the follower ended after refused switchovers"

# Switchover over HTTP, like the command.
psql -qX -d "$src" -c "insert into items (v) values ('last')" >/dev/null
[ "$(post /api/v1/switchover "$UM_HTTP_TOKEN")" = 202 ] || fail "switchover: $(cat post.out)"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the follower exited $rc after the HTTP switchover: $(tail -3 run.err)"
grep -q "switchover over HTTP finished (exit code 0)" run.err || fail "switchover outcome not logged: $(tail -5 run.err)"
[ "$(sums "$src")" = "$(sums "$dst")" ] || fail "source and target differ after the switchover"
[ "$(sqlite3 st/state.db "select value from kv where key = 'online.phase'")" = switched_over ] ||
  fail "the state store does not say switched_over"

# /stop: a follower stopped over HTTP ends as on SIGTERM and follows again when rerun.
dst2=httpf_dst2_$$
new_db "$dst2"
"$bin" run --preset online --config job.toml --source "$(url "$src")" --target "$(url "$dst2")" \
  --state-dir st2 --http "127.0.0.1:0" >run2.out 2>run2.err &
pid=$!
port=$(served_port run2.err "$pid") || { fail "the second job never served: $(tail -3 run2.err)"; exit 1; }
wait_api "$pid" '.phase == "follow"' || fail "second job never following: $(tail -3 run2.err)"
[ "$(post /api/v1/stop "$UM_HTTP_TOKEN")" = 202 ] || fail "stop: $(cat post.out)"
rc=0
wait "$pid" || rc=$?
grep -q "stop requested over HTTP" run2.err || fail "the stop reason is not logged: $(tail -3 run2.err)"
[ "$rc" -eq 1 ] || fail "stop over HTTP while following: exit $rc, expected 1 as for SIGTERM"
grep -q "uringmig follow" run2.err || fail "stop over HTTP: no resume hint: $(tail -2 run2.err)"
finish http_follow
