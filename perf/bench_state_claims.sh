#!/usr/bin/env bash
# The shared (PostgreSQL) job state, on one throwaway cluster pair:
#  1. chunk claims/s: perf/state_claims_bench with CLAIMERS (16) sessions claiming CHUNKS
#     (20 000) chunks of one plan and marking each done (FOR UPDATE SKIP LOCKED + lease);
#  2. the bulk clone of pgbench scale SCALE (30) with its state in --state-dir (SQLite) and in
#     --state-url (schema uringmig_state on the target), alternated RUNS (3) times: the wall
#     time each, and the median ratio state-url / state-dir (the shared state's overhead).
# PRESET=asan times a sanitizer build (quick, indicative only); default release.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. perf/lib.sh
runs=${RUNS:-3}
scale=${SCALE:-30}
claimers=${CLAIMERS:-16}
chunks=${CHUNKS:-20000}
preset=${PRESET:-release}
bench_build "$preset" uringmig pg_fixture state_claims_bench
bin=$bench_dir/uringmig
bench_two_clusters "$bench_dir/tests/pg_fixture"
spsql -d postgres -c "create database bench"
tpsql -d postgres -c "create database claims"
pgbench -q -i -s "$scale" -h "$shost" -p "$sport" -U "$suser" bench >/dev/null 2>&1

echo "== chunk claims (state on the target cluster)"
"$bench_dir/perf/state_claims_bench" "postgresql://$tuser@/claims?host=$thost&port=$tport" \
  "$claimers" "$chunks"

echo "== bulk clone, pgbench scale $scale: --state-dir vs --state-url target"
clone() {  # mode run: prints the wall seconds
  local mode=$1 n=$2 db="dst_${1}_$2" t
  tpsql -d postgres -c "create database $db"
  local state=(--state-dir "$scratch/state_$db")
  [ "$mode" = url ] && state+=(--state-url target)
  t=$(now)
  "$bin" run --preset bulk --source "$src_url" \
    --target "postgresql://$tuser@/$db?host=$thost&port=$tport" "${state[@]}" \
    >"$scratch/$db.out" 2>"$scratch/$db.err" || { cat "$scratch/$db.err" >&2; exit 1; }
  since "$t"
}
ratios=()
for i in $(seq "$runs"); do
  d=$(clone dir "$i"); u=$(clone url "$i")
  echo "run $i: --state-dir ${d}s, --state-url ${u}s"
  ratios+=("$(ratio "$u" "$d")")
done
echo "median ratio state-url / state-dir: $(printf '%s\n' "${ratios[@]}" | median)"
