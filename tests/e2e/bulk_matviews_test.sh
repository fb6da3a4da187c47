#!/usr/bin/env bash
# uses-fixture: pg
# `uringmig run --preset bulk` carries materialized views as pg_dump | pg_restore does: the
# populated ones are refreshed on the target after post-data, dependencies first (also through
# a plain view in between), the ones WITH NO DATA on the source stay unpopulated; `verify`
# compares them and sees a materialized view that is not populated on the target.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=bulk_mv_src_$$; dst=bulk_mv_dst_$$
new_db "$src"; new_db "$dst"

psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table sales (id int primary key, region text, amount numeric);
insert into sales select g, (array['eu', 'us', 'apac'])[g % 3 + 1], g / 7.0 from generate_series(1, 5000) g;
create materialized view by_region as select region, count(*) n, sum(amount) total from sales group by region;
create unique index by_region_key on by_region (region);
create view big_regions as select region, total from by_region where n > 100;
-- reads by_region through a view: must be refreshed after it
create materialized view big_region_names as select region from big_regions;
-- reads by_region directly, and a second chain level
create materialized view top_region as select region from by_region order by total desc limit 1;
create materialized view top_region_again as select * from top_region;
create materialized view never_filled as select id from sales with no data;
SQL

"$bin" plan --source "$(url "$src")" --target "$(tcp_url "$dst")" --state-dir "$work/plan" \
  >"$work/plan.out" 2>&1 || fail "plan failed: $(tail -3 "$work/plan.out")"
grep -q "materialized views: 5, 4 of them refreshed after post-data" "$work/plan.out" ||
  fail "plan does not mention the materialized views"

rc=0
"$bin" run --preset bulk --source "$(url "$src")" --target "$(tcp_url "$dst")" \
  --state-dir "$work/state" --jobs 2 --index-jobs 2 >"$work/out" 2>"$work/err" || rc=$?
cat "$work/out" "$work/err"
[ "$rc" -eq 0 ] || fail "run exited $rc"
grep -q "materialized views: 4 refreshed, 1 left unpopulated" "$work/out" ||
  fail "the summary does not count the materialized views"

mv_sum() { psql -qXAt -d "$1" -c "select md5(string_agg(x::text, '|' order by x::text)) from $2 x"; }
for mv in by_region big_region_names top_region top_region_again; do
  [ "$(psql -qXAt -d "$dst" -c "select relispopulated from pg_class where relname = '$mv'")" = t ] ||
    { fail "$mv is not populated on the target"; continue; }
  [ "$(mv_sum "$src" "$mv")" = "$(mv_sum "$dst" "$mv")" ] || fail "$mv differs from the source"
done
[ "$(psql -qXAt -d "$dst" -c "select relispopulated from pg_class where relname = 'never_filled'")" = f ] ||
  fail "never_filled is populated on the target, not on the source"
[ "$(psql -qXAt -d "$dst" -c "select count(*) from pg_indexes where indexname = 'by_region_key'")" = 1 ] ||
  fail "the materialized view's index is missing"

expect_exit 0 "$bin" verify --source "$(url "$src")" --target "$(tcp_url "$dst")"
cat "$work/stdout"
grep -Eq "^public\.by_region +3 .* ok" "$work/stdout" || fail "verify does not compare by_region"
grep -Eq "^public\.never_filled .*ok \(materialized view not populated\)" "$work/stdout" ||
  fail "verify does not report never_filled as not populated"

# A materialized view not populated on the target is a difference.
psql -qX -d "$dst" -c "refresh materialized view top_region_again with no data"
expect_exit 1 "$bin" verify --source "$(url "$src")" --target "$(tcp_url "$dst")"
grep -Eq "^public\.top_region_again .*DIFFERS: not populated on target" "$work/stdout" ||
  fail "verify does not see top_region_again unpopulated: $(cat "$work/stdout")"
finish bulk_matviews
