# Sourced by the benchmarks (perf/bench_*.sh): timing helpers, the release build, and the
# build of a previous commit for a same-run A/B (BASE=<commit>).
# The caller has already changed to the repository root.

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

# The compiler cache, when installed: a base build then mostly hits it.
if command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
fi

# bench_build PRESET TARGET... — configures and builds the preset (release unless told),
# sets bench_dir to its build directory.
bench_build() {
  local preset=$1
  shift
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --target "$@" -j"$(nproc)" >/dev/null
  bench_dir=$PWD/build/$preset
}

# bench_build_base REV — builds uringmig of commit REV with the release preset's flags into
# build/bench-base-<short rev> (from `git archive`: the work tree is not touched) and sets
# base_bin. Used by the benchmarks that take BASE=<commit> to time this tree against it in the
# same run, alternated.
bench_build_base() {
  local rev short src dir flags="-O2 -g -DNDEBUG -fno-omit-frame-pointer"  # preset release
  rev=$(git rev-parse --verify "$1^{commit}") || { echo "BASE: no commit '$1'" >&2; exit 2; }
  short=$(git rev-parse --short "$rev")
  src=$PWD/build/bench-base-$short.src
  dir=$PWD/build/bench-base-$short
  if [ ! -x "$dir/uringmig" ]; then
    rm -rf "$src" && mkdir -p "$src"
    git archive "$rev" | tar -x -C "$src"
    cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_FLAGS_RELEASE="$flags" -DCMAKE_C_FLAGS_RELEASE="$flags" >/dev/null
    cmake --build "$dir" --target uringmig -j"$(nproc)" >/dev/null
  fi
  base_bin=$dir/uringmig
  echo "A/B base: $short ($(git log -1 --format=%s "$rev" | cut -c1-70))"
}

# bench_two_clusters FIXTURE — two throwaway PostgreSQL 15 clusters (source, target) started by
# the test fixture (as an unprivileged user) and stopped and removed at exit, with a background
# process $fpid killed first when set. Sets srcdir, dstdir, scratch, shost sport suser, thost
# tport tuser, src_url and dst_url (database "bench"); spsql / tpsql run psql on either side.
bench_two_clusters() {
  fixture=$1
  srcdir=$(mktemp -d); dstdir=$(mktemp -d); scratch=$(mktemp -d)
  trap bench_stop_clusters EXIT
  "$fixture" start "$srcdir" >/dev/null
  "$fixture" start "$dstdir" >/dev/null
  read -r shost sport suser < <(. "$srcdir/conninfo.env"; echo "$PGFIX_HOST $PGFIX_PORT $PGFIX_USER")
  read -r thost tport tuser < <(. "$dstdir/conninfo.env"; echo "$PGFIX_HOST $PGFIX_PORT $PGFIX_USER")
  src_url="postgresql://$suser@/bench?host=$shost&port=$sport"
  dst_url="postgresql://$tuser@/bench?host=$thost&port=$tport"
}
bench_stop_clusters() {
  [ -n "${fpid:-}" ] && kill "$fpid" 2>/dev/null
  "$fixture" stop "$srcdir" >/dev/null 2>&1 || true
  "$fixture" stop "$dstdir" >/dev/null 2>&1 || true
  rm -rf "$srcdir" "$dstdir" "$scratch"
}
spsql() { psql -qX -v ON_ERROR_STOP=1 -h "$shost" -p "$sport" -U "$suser" "$@"; }
tpsql() { psql -qX -v ON_ERROR_STOP=1 -h "$thost" -p "$tport" -U "$tuser" "$@"; }

# bench_bulk_source SCALE MIXED_ROWS: database `bench` on the source cluster — pgbench at SCALE
# plus a table `mixed` of MIXED_ROWS rows of mixed types (numeric, float, timestamptz, arrays,
# jsonb, boolean, bytea) with a secondary index; vacuumed and checkpointed.
bench_bulk_source() {
  local scale=$1 mixed_rows=$2
  echo "== data: pgbench scale $scale + $mixed_rows mixed-type rows"
  spsql -d postgres -c "create database bench"
  PGPASSWORD= /usr/lib/postgresql/15/bin/pgbench -q -i -s "$scale" -h "$shost" -p "$sport" \
    -U "$suser" bench 2>&1 | tail -1
  spsql -d bench <<SQL
create table mixed (id bigint primary key, name text, amount numeric(12,2), ratio float8,
  at timestamptz, tags text[], doc jsonb, flag boolean, raw bytea);
insert into mixed select g, 'name ' || g, g % 100000 / 100.0, g / 7.0, now() - g * interval '1 s',
  array['t' || g % 10, 'x'], jsonb_build_object('g', g, 'k', g % 13), g % 2 = 0, decode(md5(g::text), 'hex')
from generate_series(1, $mixed_rows) g;
create index mixed_name on mixed (name);
vacuum analyze;
checkpoint;
SQL
}

# bench_online_to_follow CONFIG SRC_URL DST_URL STATE_DIR — `uringmig run --preset online` ($bin)
# until its copy is done and it follows (the state's online.phase), then stops it (SIGTERM): the
# slot and the copied target are ready for a benchmark's backlog. Exits on a run that dies.
bench_online_to_follow() {
  local pid phase
  "$bin" run --preset online --config "$1" --source "$2" --target "$3" \
    --state-dir "$4" --log-level warn >"$scratch/online.out" 2>"$scratch/online.err" &
  pid=$!
  for _ in $(seq 1 3000); do
    phase=$(sqlite3 "$4/state.db" "select value from kv where key = 'online.phase'" 2>/dev/null || true)
    [ "$phase" = follow ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$scratch/online.err"; exit 1; }
    sleep 0.1
  done
  kill -TERM "$pid"; wait "$pid" || true
}
