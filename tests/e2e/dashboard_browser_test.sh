#!/usr/bin/env bash
# uses-fixture: pg
# The web dashboard (GET /) in real browsers, against one running bulk job (run --http):
# - headless Chromium loads it twice; the rendered DOM shows the phase and every table, the
#   overall progress differs between the two loads, the browser logs no console message;
# - headless Firefox (driven over its own WebDriver BiDi by lib/firefox_bidi.py) loads it once:
#   the page goes live on the WebSocket, shows the phase and every table, and its overall
#   progress moves without a reload; no console message;
# screenshots of both at a laptop's and a phone's width are kept in the build's
# tests/artifacts/dashboard_browser/.
# The job is held at two gates on the target (check constraints that wait for advisory locks
# the test holds): the first load sees it at gate A, the second at gate B, after gated_a.
artifacts=$(pwd)/artifacts/dashboard_browser
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/hold.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/http.sh"
mkdir -p "$artifacts"
rm -f -- "$artifacts"/*
port=$(free_port)
addr="127.0.0.1:$port"
# Firefox starts now, while the databases are made (its start-up takes seconds); it loads the
# page once $work/firefox.go exists.
python3 "$(dirname "${BASH_SOURCE[0]}")/lib/firefox_bidi.py" dashboard "http://$addr/" "$work" \
  "$artifacts" >"$work/firefox.out" 2>"$work/firefox.err" &
firefox=$!
src=dash_src_$$; dst=dash_dst_$$
new_db "$src"; new_db "$dst"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create function gate_a() returns bool language plpgsql as
  $$ begin perform pg_advisory_xact_lock_shared(4345); return true; end $$;
create function gate_b() returns bool language plpgsql as
  $$ begin perform pg_advisory_xact_lock_shared(4346); return true; end $$;
create table gated_a (id int primary key, v text, check (gate_a()));
insert into gated_a select g, repeat('a', 100) from generate_series(1, 40000) g;
create table gated_b (id int primary key, v text, check (gate_b()));
insert into gated_b select g, repeat('b', 100) from generate_series(1, 20000) g;
create table plain_one (id int primary key, v text);
insert into plain_one select g, 'p' || g from generate_series(1, 3000) g;
analyze;
SQL
cat >"$work/job.toml" <<'TOML'
[copy]
chunk_size = "256kB"
TOML
waiting_for() {  # KEY: a session waits for advisory lock KEY
  echo "select exists (select 1 from $locks l where locktype = 'advisory' and objid = $1 and not granted)"
}

hold gate_a "$dst" "select pg_advisory_lock(4345);"
hold gate_b "$dst" "select pg_advisory_lock(4346);"
wait_true "$dst" "select count(*) = 2 from $locks l where locktype = 'advisory' and granted" ||
  fail "the test could not take its advisory locks"
"$bin" run --preset bulk --config "$work/job.toml" --jobs 1 --index-jobs 1 --http "$addr" \
  --source "$(url "$src")" --target "$(url "$dst")" --state-dir "$work/state" \
  >"$work/job.out" 2>"$work/job.err" &
job=$!
wait_api "$job" .live || fail "the job's API never answered: $(tail -3 "$work/job.err")"

browse() {  # NAME: loads the page; DOM in $work/NAME.html, browser log in $work/NAME.log
  local name=$1
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --user-data-dir="$work/chromium-$name" --enable-logging=stderr --v=0 \
    --window-size=1280,900 --virtual-time-budget=4000 --dump-dom "http://$addr/" \
    >"$work/$name.html" 2>"$work/$name.log" || fail "chromium failed on $name: $(tail -3 "$work/$name.log")"
  # Messages of the page itself (console.*, uncaught exceptions) are logged as CONSOLE lines.
  if grep -q 'CONSOLE' "$work/$name.log"; then
    fail "$name: the page logged to the console: $(grep 'CONSOLE' "$work/$name.log" | head -3)"
  fi
}
dom() {  # NAME ID: the text of the element with that id in the rendered DOM
  python3 - "$work/$1.html" "$2" <<'PY'
import html.parser, sys
class P(html.parser.HTMLParser):
    def __init__(s, want):
        super().__init__(); s.want, s.depth, s.text, s.attrs = want, 0, [], {}
    def handle_starttag(s, tag, attrs):
        a = dict(attrs)
        if s.depth: s.depth += 1
        elif a.get('id') == s.want: s.depth, s.attrs = 1, a
    def handle_endtag(s, tag):
        if s.depth: s.depth -= 1
    def handle_data(s, d):
        if s.depth: s.text.append(d)
p = P(sys.argv[2]); p.feed(open(sys.argv[1]).read())
print(''.join(p.text).strip() + ('\t' + p.attrs.get('data-fraction', '') if 'data-fraction' in p.attrs else ''))
PY
}

wait_true "$dst" "$(waiting_for 4345)" || fail "the copy never reached gate A"
browse first
grep -q 'class="tname">public.gated_a<' "$work/first.html" || fail "first load: no gated_a row"
grep -q 'class="tname">public.gated_b<' "$work/first.html" || fail "first load: no gated_b row"
grep -q 'class="tname">public.plain_one<' "$work/first.html" || fail "first load: no plain_one row"
[ "$(dom first phase)" = copy ] || fail "first load: phase '$(dom first phase)', want copy"
first=$(dom first overall | cut -f2)

# Firefox loads the page at gate A too, and keeps it open while the job moves to gate B.
touch "$work/firefox.go"
for _ in $(seq 600); do
  [ -e "$work/firefox.ready" ] || ! kill -0 "$firefox" 2>/dev/null && break
  sleep 0.1
done
[ -e "$work/firefox.ready" ] || fail "firefox: $(tail -3 "$work/firefox.err")"
grep -qx 'phase copy' "$work/firefox.out" || fail "firefox: $(head -1 "$work/firefox.out"), want copy"
for t in gated_a gated_b plain_one; do
  grep -q "^tables .*public\.$t\b" "$work/firefox.out" || fail "firefox: no $t row"
done

release gate_a
wait_true "$dst" "$(waiting_for 4346)" || fail "the copy never reached gate B"
browse second
[ "$(dom second phase)" = copy ] || fail "second load: phase '$(dom second phase)', want copy"
second=$(dom second overall | cut -f2)
[ -n "$first" ] && [ -n "$second" ] || fail "no progress value in the DOM ('$first', '$second')"
python3 -c "import sys; sys.exit(0 if float('$second') > float('$first') else 1)" ||
  fail "progress did not move between the loads: $first then $second"

# The picture, for a person to look at (laptop and phone widths).
for size in 1280,900 390,844; do
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chromium-shot" --hide-scrollbars --window-size="$size" \
    --virtual-time-budget=4000 --screenshot="$artifacts/dashboard_${size%,*}.png" \
    "http://$addr/" >/dev/null 2>&1 || fail "no screenshot at $size"
  [ -s "$artifacts/dashboard_${size%,*}.png" ] || fail "empty screenshot at $size"
done
cp "$work/first.html" "$work/second.html" "$artifacts/"
ff_rc=0; wait "$firefox" || ff_rc=$?
[ "$ff_rc" -eq 0 ] || fail "$(tail -3 "$work/firefox.err")"
[ "$(grep -c '^fraction' "$work/firefox.out")" -eq 2 ] ||
  fail "firefox: the progress did not move: $(cat "$work/firefox.out")"
for w in 1280 390; do
  [ -s "$artifacts/firefox_dashboard_$w.png" ] || fail "firefox: no screenshot at width $w"
done

release gate_b
rc=0; wait "$job" || rc=$?
[ "$rc" -eq 0 ] || fail "the job exited $rc: $(tail -3 "$work/job.err")"
finish dashboard_browser
