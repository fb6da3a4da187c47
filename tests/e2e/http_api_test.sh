#!/usr/bin/env bash
# uses-fixture: pg
# --http on a running bulk job: every endpoint answers (status against its JSON schema,
# tables, config without the token, log, metrics through promtool, the page), the WebSocket
# pushes at least 3 documents in 2 s, actions without or with a wrong token are refused (401)
# and change nothing, pause holds the rows still until resume, bad requests (malformed,
# oversized, unknown paths, 1000 connections opened and dropped, a client that never reads)
# cost the job nothing: it finishes with the source's data. Then: the port in use and a
# non-loopback address without a token are refused (exit 2) before the state directory exists.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/pg.sh"
. "$here/lib/http.sh"
src=http_src_$$
dst=http_dst_$$
new_db "$src"
new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table big (id bigint primary key, v text);
insert into big select g, repeat('v', 100) || g from generate_series(1, 300000) g;
create table "odd ""name""" (id int primary key);
insert into "odd ""name""" select generate_series(1, 100);
analyze;
SQL
# Many small chunks, one worker: a job that runs for a while.
cat >job.toml <<'EOF2'
[copy]
chunk_size = "64kB"
[http]
token = "${UM_HTTP_TOKEN}"
EOF2
export UM_HTTP_TOKEN="tok-$$-secret"
"$bin" run --preset bulk --config job.toml --jobs 1 --index-jobs 1 --source "$(url "$src")" \
  --target "$(url "$dst")" --state-dir state --http "127.0.0.1:0" >run.out 2>run.err &
pid=$!
port=$(served_port run.err "$pid") || { fail "the job never served: $(tail -3 run.err)"; exit 1; }

wait_api "$pid" '.progress.chunks_done >= 1' || fail "the job never served a copying status: $(tail -3 run.err)"

# Actions without a token, with a wrong one: 401, nothing happens.
[ "$(post /api/v1/pause)" = 401 ] || fail "pause without a token: not 401"
[ "$(post /api/v1/pause wrong-token)" = 401 ] || fail "pause with a wrong token: not 401"
[ "$(post /api/v1/stop wrong-token)" = 401 ] || fail "stop with a wrong token: not 401"
api /api/v1/status | jq -e '.paused == false' >/dev/null || fail "a refused pause paused"

# Pause: the chunk in hand finishes, then the rows stay still.
[ "$(post /api/v1/pause "$UM_HTTP_TOKEN")" = 200 ] || fail "pause with the token: $(cat post.out)"
wait_api "$pid" '.paused and .progress.in_flight == 0' || fail "pause: chunks still in flight"
$probe ws_rows "$port" 4 >paused_rows.txt || fail "ws_rows"
[ "$(cut -d' ' -f1 paused_rows.txt | sort -u | wc -l)" = 1 ] ||
  fail "rows moved while paused: $(tr '\n' ' ' <paused_rows.txt)"
grep -q True paused_rows.txt || fail "the pushes do not say paused: $(cat paused_rows.txt)"
"$bin" status --state-dir state --json | jq -e '.marks["http.paused"] == "true"' >/dev/null ||
  fail "uringmig status does not show the pause"
[ "$(post /api/v1/resume)" = 401 ] || fail "resume without a token: not 401"
api /api/v1/status | jq -e '.paused' >/dev/null || fail "a refused resume resumed"

# Every read endpoint, mid-run.
api /api/v1/status >status.json
$probe validate "$status_schema" status.json || fail "status does not fit its schema"
jq -e '.phase == "copy" and .run_id >= 1 and (.table_progress | length) == 2' status.json \
  >/dev/null || fail "status: phase/run_id/tables: $(jq -c '{phase,run_id}' status.json)"
api /api/v1/tables | jq -e '[.tables[].name] | sort == ["big", "odd \"name\""]' >/dev/null ||
  fail "tables: $(api /api/v1/tables | head -c 300)"
api /api/v1/config >config.json
grep -q "$UM_HTTP_TOKEN" config.json && fail "config shows the token"
jq -e '.settings["http.token"] == "(set, not shown)" and .command == "run"' config.json \
  >/dev/null || fail "config: $(head -c 300 config.json)"
api "/api/v1/log?since=0" >log.json
jq -e '(.lines | length) > 0 and (.lines | map(.msg) | any(test("paused over HTTP")))' log.json \
  >/dev/null || fail "log: no 'paused over HTTP' line: $(head -c 300 log.json)"
next=$(jq .next log.json)
api "/api/v1/log?since=$next" | jq -e "all(.lines[]; .seq > $next)" >/dev/null ||
  fail "log?since=next returns old lines"
# (into a file: grep -q would close the pipe early, and curl's write error fails the pipeline)
api / >page.html
grep -qi "<html" page.html || fail "GET / serves no page"
api /metrics >metrics1.txt
promtool check metrics <metrics1.txt || fail "promtool rejects the mid-run scrape"
grep -q '^uringmig_rows_total{table="public.big"}' metrics1.txt || fail "no rows_total of big"
grep -q 'table="public.odd \\"name\\""' metrics1.txt || fail "label not escaped"
grep -q '^uringmig_phase{phase="copy"} 1' metrics1.txt || fail "phase gauge"
ws=$($probe ws "$port" 2) || fail "WebSocket"
[ "${ws:-0}" -ge 3 ] || fail "WebSocket: $ws pushes in 2 s, want >= 3"
$probe validate "$status_schema" ws_last.json || fail "a push does not fit the schema"

# Bad input: the job carries on.
api /nope | jq -e '.error' >/dev/null || fail "unknown path: no JSON error"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" = 404 ] || fail "404"
[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/api/v1/status")" = 405 ] || fail "405"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/log?since=x")" = 400 ] || fail "bad since: not 400"
printf 'THIS IS NOT HTTP\r\n\r\n' >bad.req
[ "$($probe raw "$port" bad.req)" = 400 ] || fail "malformed request: not 400"
{ printf 'POST /api/v1/pause HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n'; head -c 1000 /dev/zero; } >big.req
[ "$($probe raw "$port" big.req)" = 413 ] || fail "oversized body: not 413"
[ "$($probe flood "$port" 1000)" -gt 0 ] || fail "flood opened no connection"
api /api/v1/status | jq -e '.paused' >/dev/null || fail "the server does not answer after the flood"

# Resume, with a client that never reads on the WebSocket while the job runs.
$probe noread "$port" 4 >noread.txt 2>&1 &
noread=$!
[ "$(post /api/v1/resume "$UM_HTTP_TOKEN")" = 200 ] || fail "resume: $(cat post.out)"
"$bin" status --state-dir state --json | jq -e '.marks["http.paused"] == null' >/dev/null ||
  fail "uringmig status still shows the pause after resume"
wait_api "$pid" '.paused == false and .progress.chunks_done > 0' || true
api /metrics >metrics2.txt 2>/dev/null || true
if [ -s metrics2.txt ]; then
  promtool check metrics <metrics2.txt || fail "promtool rejects the second scrape"
  join <(counters metrics1.txt | sed 's/ \([0-9.e+]*\)$/\t\1/' | tr ' ' '_') \
    <(counters metrics2.txt | sed 's/ \([0-9.e+]*\)$/\t\1/' | tr ' ' '_') -t $'\t' |
    awk -F'\t' '$3 < $2 { print; bad=1 } END { exit bad }' ||
    fail "a counter went down between scrapes"
fi
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the job exited $rc: $(tail -3 run.err)"
wait "$noread" || true
echo "never-reading client: $(cat noread.txt)"
[ "$(table_sums "$src")" = "$(table_sums "$dst")" ] || fail "target differs from the source"

# TLS: `top --http https://…` with --tls-ca, and one clear line without it; WSS pushes. A pause
# that dies with its process (kill -9): `status` does not call the job paused, a new run starts
# unpaused with no stale mark; /stop: the stop SIGTERM makes (exit 1, resumable), then the
# rerun finishes.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 -keyout key.pem \
  -out cert.pem -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 -keyout other.key \
  -out other.pem -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
cat >tls.toml <<EOF2
[copy]
chunk_size = "64kB"
[http]
token = "\${UM_HTTP_TOKEN}"
tls_cert = "$work/cert.pem"
tls_key = "$work/key.pem"
EOF2
dst3=http_tls_$$
new_db "$dst3"
tls_post() {
  curl -sS -k --max-time 10 -o post.out -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $UM_HTTP_TOKEN" "https://127.0.0.1:$port$1"
}
tls_run() {  # the TLS job on state3, serving on $port, as $pid (a fresh log: served_port reads it)
  rm -f tls.err
  "$bin" run --preset bulk --config tls.toml --jobs 1 --index-jobs 1 --source "$(url "$src")" \
    --target "$(url "$dst3")" --state-dir state3 --http "127.0.0.1:0" >tls.out 2>tls.err &
  pid=$!
  port=$(served_port tls.err "$pid") || { fail "the TLS job never served: $(tail -3 tls.err)"; exit 1; }
}
tls_run
api() { curl -sS -k --max-time 10 "https://127.0.0.1:$port$1"; }
wait_api "$pid" '.progress.chunks_done >= 1' || fail "no status over HTTPS: $(tail -3 tls.err)"
curl -sS --max-time 5 "http://127.0.0.1:$port/api/v1/status" >/dev/null 2>&1 &&
  fail "plain HTTP answered on a TLS port"
"$bin" top --http "https://127.0.0.1:$port" --tls-ca cert.pem >top_tls.out 2>top_tls.err &
top=$!
for _ in $(seq 100); do
  grep -q ' phase copy ' top_tls.out && break
  kill -0 "$top" 2>/dev/null || break
  sleep 0.1
done
grep -q '^[0-9:]\{8\} phase copy ' top_tls.out || fail "top over https: $(cat top_tls.out top_tls.err)"
kill "$top"; wait "$top" 2>/dev/null || true
for ca in "" other.pem; do
  expect_exit 1 "$bin" top --http "https://localhost:$port" ${ca:+--tls-ca "$ca"}
  [ "$(wc -l <err)" = 1 ] && grep -q "^uringmig: the TLS certificate of https://localhost:$port does not verify (" err ||
    fail "top, certificate not trusted (CA '${ca:-system}'): $(cat err)"
done
expect_exit 2 "$bin" top --http "127.0.0.1:$port" --tls-ca cert.pem
grep -q -- "--tls-ca goes with an https:// address" err || fail "--tls-ca without https: $(cat err)"
$probe ws_rows "$port" 2 cert.pem >wss.txt || fail "WSS: $(cat wss.txt)"
[ "$(wc -l <wss.txt)" = 2 ] || fail "WSS: $(wc -l <wss.txt) pushes, want 2"
[ "$(tls_post /api/v1/pause)" = 200 ] || fail "pause over HTTPS: $(cat post.out)"
wait_api "$pid" '.paused and .progress.in_flight == 0' || fail "pause over HTTPS: still copying"
"$bin" status --state-dir state3 --json | jq -e '.marks["http.paused"] == "true"' >/dev/null ||
  fail "status does not show the pause of a live job"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
"$bin" status --state-dir state3 >killed_status.txt || fail "status after kill -9"
grep -i paused killed_status.txt && fail "status calls a job killed while paused paused"
tls_run
wait_api "$pid" '.run_id >= 2 and .phase == "copy"' || fail "the rerun never copied: $(tail -3 tls.err)"
api /api/v1/status | jq -e '.paused == false' >/dev/null || fail "the rerun started paused"
"$bin" status --state-dir state3 >rerun_status.txt || fail "status of the rerun"
grep -i paused rerun_status.txt && fail "status calls the rerun paused"
code=$(tls_post /api/v1/stop)
[ "$code" = 202 ] || fail "stop over HTTPS: $code $(cat post.out)"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "a job stopped over HTTP exited $rc, want 1 as for SIGTERM: $(tail -3 tls.err)"
grep -q "resume" tls.err || fail "the stopped job does not say how to resume: $(tail -3 tls.err)"
expect_exit 0 "$bin" run --preset bulk --config job.toml --jobs 2 --source "$(url "$src")" \
  --target "$(url "$dst3")" --state-dir state3
[ "$(table_sums "$src")" = "$(table_sums "$dst3")" ] || fail "the job resumed after /stop differs"

# Refused before anything is touched: the port in use, no token beyond loopback.
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(60)' >holder.port &
holder=$!
for i in $(seq 200); do
  [ -s holder.port ] && break
  sleep 0.05
done
port=$(cat holder.port)
expect_exit 2 "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$dst")" \
  --state-dir state_busy --http "127.0.0.1:$port"
grep -q "in use" err || fail "port in use: $(cat err)"
[ -e state_busy ] && fail "port in use: the state directory was created"
kill "$holder"; wait "$holder" 2>/dev/null || true
expect_exit 2 "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$dst")" \
  --state-dir state_open --http "0.0.0.0:$(free_port)"
grep -q "token" err || fail "non-loopback without a token: $(cat err)"
[ -e state_open ] && fail "non-loopback: the state directory was created"
finish http_api
