#!/usr/bin/env bash
# uses-fixture: pg
# The schema corpus (corpus/schema_corpus.sql: the object kinds PostgreSQL's
# regression scripts create) cloned twice: by `uringmig run --preset bulk` and,
# as the reference, by `pg_dump -Fc | pg_restore`. Fails on every difference
# between the uringmig clone and the source that the reference clone does not
# share: the schema (pg_dump --schema-only), per-table rows (count + md5 of the
# sorted row texts), matview contents, large objects, sequence values. Then
# `uringmig verify` must say identical exactly when the data is. The same corpus is then
# cloned by two worker processes on one job through a shared state (--state-url) and
# compared the same way: the workers' path sees every object kind too.
#
# Leaving sections out (one per object kind, named in the SQL by
# `-- @section NAME`): list them in corpus/bulk_corpus.skip (one name a line,
# `#` comments), or in $CORPUS_SKIP (space separated) for one run.
# $CORPUS_ONLY="name ..." runs just those sections (to find which kind fails).
# Sections whose contrib extensions the server lacks are left out, saying so.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib/corpus.sh"

mapfile -t all_sections < <(corpus_sections)
skip=()
while read -r name _; do
  [ -n "$name" ] && skip+=("$name")
done < <(sed 's/#.*//' "$(dirname "${BASH_SOURCE[0]}")/corpus/bulk_corpus.skip")
read -r -a env_skip <<<"${CORPUS_SKIP:-}"
skip+=("${env_skip[@]}")
for name in "${skip[@]}" ${CORPUS_ONLY:-}; do
  printf '%s\n' "${all_sections[@]}" | grep -qx -- "$name" || {
    echo "unknown corpus section '$name'; the sections are: ${all_sections[*]}" >&2
    exit 1
  }
done
if [ -n "${CORPUS_ONLY:-}" ]; then
  for name in "${all_sections[@]}"; do
    [[ " $CORPUS_ONLY " == *" $name "* ]] || skip+=("$name")
  done
fi
while read -r name ext; do
  echo "note: section $name left out: extension $ext is not available on this server"
  skip+=("$name")
done < <(corpus_missing_extensions)
[ "${#skip[@]}" -eq 0 ] || echo "sections left out: $(printf '%s\n' "${skip[@]}" | sort -u | tr '\n' ' ')"

src=corpus_src_$$; ref=corpus_ref_$$; dst=corpus_dst_$$; wdst=corpus_wdst_$$; wstate=corpus_wstate_$$
new_db "$src"; new_db "$ref"; new_db "$dst"; new_db "$wdst"; new_db "$wstate"
SECONDS=0
corpus_load "$src" "${skip[@]}"
echo "source built in ${SECONDS}s"

SECONDS=0
pg_dump -Fc -d "$src" -f "$work/ref.dump"
pg_restore --exit-on-error -d "$ref" "$work/ref.dump" ||
  { echo "the reference clone (pg_dump | pg_restore) failed: the corpus itself is broken" >&2; exit 1; }
echo "pg_dump | pg_restore: ${SECONDS}s"

# Small chunks: the bigger corpus tables are split (by key or by ctid ranges).
printf '[copy]\nchunk_size = "64KB"\n' >"$work/job.toml"
SECONDS=0
rc=0
timeout 180 "$bin" run --preset bulk --config "$work/job.toml" --source "$(url "$src")" \
  --target "$(tcp_url "$dst")" --state-dir "$work/state" --jobs 2 >"$work/run.out" 2>"$work/run.err" || rc=$?
echo "uringmig run --preset bulk: ${SECONDS}s, exit $rc"
if [ "$rc" -ne 0 ]; then
  cat "$work/run.out" "$work/run.err"
  fail "uringmig run exited $rc: $(grep '^uringmig: ' "$work/run.err" || tail -1 "$work/run.err")"
fi

# compare_clone DB WHAT: fails on every difference of DB from the source that the reference
# clone does not share (the schema, rows, matviews, large objects, sequences).
compare_clone() {
  local dst=$1 what=$2
  corpus_schema "$dst" >"$work/$dst.schema"
  if ! cmp -s "$work/$ref.schema" "$work/$dst.schema" && ! cmp -s "$work/$src.schema" "$work/$dst.schema"; then
    fail "$what: the schema differs from the pg_dump clone's (- pg_dump clone, + uringmig clone):"
    diff -u "$work/$ref.schema" "$work/$dst.schema" | tail -n +3 >"$work/schema.diff" || true
    head -150 "$work/schema.diff" >&2
    [ "$(wc -l <"$work/schema.diff")" -le 150 ] || echo "... $(wc -l <"$work/schema.diff") diff lines in all" >&2
  fi
  corpus_contents "$dst" >"$work/$dst.contents"
  corpus_compare "$work/$src.contents" "$work/$ref.contents" "$work/$dst.contents" >"$work/$dst.compare"
  grep -v '^DIFFERS' "$work/$dst.compare" || true
  if ! grep -q '^table ' "$work/$dst.contents"; then
    fail "$what: no table at all on the uringmig clone"
  elif grep -q '^DIFFERS' "$work/$dst.compare"; then
    fail "$what: $(grep -c '^DIFFERS' "$work/$dst.compare") object(s) differ from the source where the pg_dump clone does not:"
    awk '/^DIFFERS/ && n++ < 100' "$work/$dst.compare" >&2
  fi
  echo "$what: compared $(wc -l <"$work/$src.contents") tables, matviews, large objects and sequences;" \
    "$(psql -qXAt -d "$dst" -c "select count(*) from uringmig.chunk_done" 2>/dev/null || echo no) chunks copied"
}
for db in "$src" "$ref"; do corpus_schema "$db" >"$work/$db.schema"; done
for db in "$src" "$ref"; do corpus_contents "$db" >"$work/$db.contents"; done
compare_clone "$dst" "one process"

# verify: identical exactly when no table, matview or large object differs.
vrc=0
timeout 120 "$bin" verify --source "$(url "$src")" --target "$(tcp_url "$dst")" \
  --state-dir "$work/vstate" >"$work/verify.out" 2>"$work/verify.err" || vrc=$?
data_diffs=$(grep '^DIFFERS' "$work/$dst.compare" | grep -v '^DIFFERS sequence ' || true)
if [ "$vrc" -eq 0 ] && [ -n "$data_diffs" ]; then
  fail "uringmig verify exited 0 (identical) but $(echo "$data_diffs" | wc -l) object(s) differ:" \
    "$(echo "$data_diffs" | sed 's/^DIFFERS //; s/ |.*//' | awk 'NR <= 5' | paste -sd ';' -)..."
elif [ "$vrc" -ne 0 ] && [ -z "$data_diffs" ]; then
  fail "uringmig verify exited $vrc on identical data: $(grep '^uringmig: ' "$work/verify.err" || tail -1 "$work/verify.err")"
fi
echo "uringmig verify: exit $vrc"

# Two workers on one job through a shared state: each copies what it claims; one of them
# builds each table's indexes and the post-data; the clone must be the same.
SECONDS=0
pids=()
for w in 1 2; do
  timeout 180 "$bin" run --preset bulk --config "$work/job.toml" --source "$(url "$src")" \
    --target "$(tcp_url "$wdst")" --state-dir "$work/wstate$w" --jobs 1 \
    --state-url "$(tcp_url "$wstate")" --job corpus >"$work/w$w.out" 2>"$work/w$w.err" &
  pids+=($!)
done
for w in 1 2; do
  wrc=0
  wait "${pids[$((w - 1))]}" || wrc=$?
  [ "$wrc" -eq 0 ] || fail "worker $w exited $wrc: $(grep '^uringmig: ' "$work/w$w.err" || tail -1 "$work/w$w.err")"
done
sq() { psql -qXAt -d "$wstate" -c "$1"; }
[ "$(sq "select count(*) from uringmig_state.chunk where job = 'corpus' and status <> 'done'")" = 0 ] ||
  fail "two workers: chunks not done in the shared state"
echo "two workers: ${SECONDS}s; $(sq "select count(*) || ' chunks by ' || count(distinct done_by) || ' worker(s)' from uringmig_state.chunk where job = 'corpus'")"
compare_clone "$wdst" "two workers"
finish bulk_corpus
