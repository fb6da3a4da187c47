// The bulk clone's objects beyond table rows that pg_dump | pg_restore carries: whole partition
// trees in the schema, tables whose column types only have text I/O, and materialized views
// (refreshed on the target, dependencies first).
#include "codecs/sql_text.hpp"
#include "engine/bulk/internal.hpp"
#include "engine/bulk/matview_order.hpp"
#include "engine/core/settings.hpp"
#include "io/wait_all.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <charconv>

namespace uringmig::engine::bulk {

namespace asio = boost::asio;

namespace {

/// The user's schemas, as the other catalog queries of the bulk clone see them.
constexpr const char* user_schema_sql =
    "n.nspname not in ('pg_catalog', 'information_schema', 'uringmig', 'uringmig_state') and "
    "n.nspname not like "
    "'pg\\_%'";

}  // namespace

asio::awaitable<std::set<std::string>> schema_tables(pg::connection& src,
                                                     const std::vector<table_info>& selected,
                                                     const table_filter& f) {
  // An intermediate partitioned table left out of the dump breaks the ATTACH PARTITION of its
  // children, and a partitioned table without partitions is never selected for data (it has
  // none) yet views may stand on it: trees are kept whole.
  pg::result r = co_await src.query(
      std::string("select n.nspname, c.relname, c.relkind, coalesce(rn.nspname, n.nspname), "
                  "  coalesce(rc.relname, c.relname), c.oid in (select t.relid from "
                  "  unnest($1::oid[]) s(oid), "
                  "  pg_partition_tree(coalesce(pg_partition_root(s.oid), s.oid)) t) "
                  "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                  "left join pg_class rc on c.relispartition and rc.oid = pg_partition_root(c.oid) "
                  "left join pg_namespace rn on rn.oid = rc.relnamespace "
                  "where c.relkind in ('r', 'p') and ") +
          user_schema_sql,
      pg::make_params(oid_array(selected)));
  r.check("listing the source tables for pg_dump");
  std::set<std::string> keep;
  for (const auto& t : selected)  // a plain table is in no partition tree
    keep.insert(t.schema + "." + t.name);
  std::set<std::pair<std::string, std::string>> roots;  // partitioned tables kept by the filters
  for (int i = 0; i < r.rows(); ++i) {
    const std::string schema(r.value(i, 0));
    const std::string name(r.value(i, 1));
    const std::string root_schema(r.value(i, 3));
    const std::string root_name(r.value(i, 4));
    if (r.value(i, 5) == "t" ||
        (r.value(i, 2) == "p" && f.matches(schema, name, root_schema, root_name))) {
      keep.insert(schema + "." + name);
      if (r.value(i, 2) == "p") roots.emplace(root_schema, root_name);
    }
  }
  // A partitioned table kept by the filters keeps its ancestors (they share its root).
  for (int i = 0; i < r.rows(); ++i)
    if (r.value(i, 2) == "p" &&
        roots.count({std::string(r.value(i, 3)), std::string(r.value(i, 4))}))
      keep.insert(std::string(r.value(i, 0)) + "." + std::string(r.value(i, 1)));
  co_return keep;
}

asio::awaitable<std::map<std::uint32_t, std::string>> text_copy_tables(
    pg::connection& src, const std::vector<table_info>& tables) {
  // Every type a column's binary form goes through: a domain's base type, an array's (or
  // fixed-length subscripted type's) element, a composite's attributes, a range's subtype, a
  // multirange's range. COPY binary needs send/receive on each, and must not be an OID alias.
  pg::result r = co_await src.query(
      "with recursive ty(rel, typ) as ("
      "  select a.attrelid, a.atttypid from pg_attribute a where a.attrelid = any($1::oid[]) "
      "    and a.attnum > 0 and not a.attisdropped and a.attgenerated = '' "
      "  union "
      "  select ty.rel, x.sub from ty join pg_type t on t.oid = ty.typ cross join lateral ("
      "    select t.typbasetype where t.typtype = 'd' "
      "    union all select t.typelem where t.typelem <> 0 "
      "    union all select a.atttypid from pg_attribute a where t.typtype = 'c' "
      "      and a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped "
      "    union all select g.rngsubtype from pg_range g where t.typtype = 'r' "
      "      and g.rngtypid = t.oid "
      "    union all select m.rngtypid from pg_range m where t.typtype = 'm' "
      "      and m.rngmultitypid = t.oid) x(sub)) "
      "select ty.rel, min(format_type(t.oid, null)) from ty join pg_type t on t.oid = ty.typ "
      "where t.typsend = 0 or t.typreceive = 0 "
      // regclass, regtype, ...: binary is the OID, which names nothing on another server; the
      // text form is the object's name, as pg_dump carries it.
      "  or (t.typnamespace = 'pg_catalog'::regnamespace and t.typname like 'reg%') "
      "group by ty.rel",
      pg::make_params(oid_array(tables)));
  r.check("checking the source's column types for binary COPY");
  std::map<std::uint32_t, std::string> out;
  for (int i = 0; i < r.rows(); ++i)
    out[to_oid(r.value(i, 0))] = r.value(i, 1);
  co_return out;
}

namespace {

using matview = matview_node;

asio::awaitable<std::map<std::uint32_t, matview>> source_matviews(pg::connection& src) {
  // A view's or materialized view's query depends (pg_depend, through its pg_rewrite rule) on
  // the relations it reads; plain views in between are followed.
  pg::result r = co_await src.query(
      std::string("with recursive mv as (select c.oid, quote_ident(n.nspname) || '.' || "
                  "  quote_ident(c.relname) as name, c.relispopulated from pg_class c "
                  "  join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'm' and ") +
      user_schema_sql +
      "), dep(mv, rel) as ("
      "  select w.ev_class, d.refobjid from pg_rewrite w join pg_depend d "
      "    on d.classid = 'pg_rewrite'::regclass and d.objid = w.oid "
      "    and d.refclassid = 'pg_class'::regclass and d.refobjid <> w.ev_class "
      "  where w.ev_class in (select oid from mv) "
      "  union "
      "  select dep.mv, d.refobjid from dep join pg_class v on v.oid = dep.rel and v.relkind = 'v' "
      "    join pg_rewrite w on w.ev_class = v.oid join pg_depend d "
      "    on d.classid = 'pg_rewrite'::regclass and d.objid = w.oid "
      "    and d.refclassid = 'pg_class'::regclass and d.refobjid <> v.oid) "
      "select mv.oid, mv.name, mv.relispopulated, array(select distinct dep.rel from dep "
      "  where dep.mv = mv.oid and dep.rel in (select oid from mv))::text from mv");
  r.check("listing the source's materialized views");
  std::map<std::uint32_t, matview> out;
  for (int i = 0; i < r.rows(); ++i) {
    matview m;
    m.name = r.value(i, 1);
    m.populated = r.value(i, 2) == "t";
    std::string_view deps = r.value(i, 3);  // {1,2,3}
    deps = deps.substr(1, deps.size() - 2);
    while (!deps.empty()) {
      const auto comma = deps.find(',');
      m.deps.push_back(to_oid(deps.substr(0, comma)));
      deps = comma == std::string_view::npos ? std::string_view() : deps.substr(comma + 1);
    }
    out.emplace(to_oid(r.value(i, 0)), std::move(m));
  }
  co_return out;
}

asio::awaitable<void> refresh_some(job& j, std::vector<const matview*>& todo, std::size_t& next,
                                   std::vector<std::string>& failed) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection dst = co_await connect_endpoint(ex, j.target, "target");
  if (const auto& mwm = j.opts.config.bulk.maintenance_work_mem)
    (void)co_await dst.query("SET maintenance_work_mem = " + codecs::quote_literal(*mwm));
  for (;;) {
    const matview* m = nullptr;
    {
      std::lock_guard lk(j.m);
      if (next == todo.size() || j.rt.stop_token().stop_requested()) break;
      m = todo[next++];
    }
    const double t0 = j.elapsed();
    pg::result r = co_await dst.query("REFRESH MATERIALIZED VIEW " + m->name);
    std::lock_guard lk(j.m);
    if (!r.ok()) {
      spdlog::error("REFRESH MATERIALIZED VIEW {} failed: {}", m->name, r.error().to_string());
      failed.push_back(m->name + ": " + r.error().message);
      continue;
    }
    j.state.put("matview." + m->name, "done");
    ++j.objects.matviews_refreshed;
    spdlog::info("materialized view {} refreshed in {:.2f}s", m->name, j.elapsed() - t0);
  }
  co_await dst.close();
}

}  // namespace

asio::awaitable<void> refresh_matviews(job& j, pg::connection& src) {
  auto all = co_await source_matviews(src);
  if (all.empty()) co_return;
  for (const auto& name : order_matviews(all))
    spdlog::warn("materialized view {} reads one that is not populated: left unpopulated", name);
  int levels = 0;
  for (const auto& [oid, m] : all) {
    levels = std::max(levels, m.level + 1);
    if (!m.populated) ++j.objects.matviews_unpopulated;
  }
  const std::size_t sessions =
      static_cast<std::size_t>(j.opts.index_jobs > 0 ? j.opts.index_jobs : 2);
  std::vector<std::string> failed;
  for (int level = 0; level < levels && failed.empty(); ++level) {
    std::vector<const matview*> todo;
    for (const auto& [oid, m] : all) {
      if (m.level != level || !m.populated) continue;
      if (j.state.get("matview." + m.name) == "done") {
        ++j.objects.matviews_refreshed;
        continue;
      }
      todo.push_back(&m);
    }
    std::size_t next = 0;
    std::vector<io::spawned> ops;
    for (std::size_t i = 0; i < std::min(sessions, todo.size()); ++i)
      ops.push_back(asio::co_spawn(j.rt.executor(i % j.rt.size()),
                                   refresh_some(j, todo, next, failed), asio::deferred));
    co_await io::wait_all(std::move(ops));
  }
  if (!failed.empty())
    throw job_error(fmt::format(
        "refreshing {} materialized view(s) on the target failed ({}); the data is copied: fix "
        "the cause and run the same command to refresh them",
        failed.size(), failed.front()));
}

asio::awaitable<std::string> plan_objects(const job_spec& opts, pg::connection& src) {
  pg::result r = co_await src.query(
      std::string("select (select count(*) from pg_largeobject_metadata), count(*) filter (where "
                  "c.relispopulated), count(*) from pg_class c join pg_namespace n on n.oid = "
                  "c.relnamespace where c.relkind = 'm' and ") +
      user_schema_sql);
  r.check("counting the source's large objects and materialized views");
  std::string out;
  if (r.value(0, 0) != "0")
    out += fmt::format("large objects: {}, {}\n", r.value(0, 0),
                       opts.config.bulk.skip_large_objects ? "not copied (large objects skipped)"
                                                           : "copied after the tables, in batches");
  if (r.value(0, 2) != "0")
    out += fmt::format("materialized views: {}, {} of them refreshed after post-data\n",
                       r.value(0, 2), r.value(0, 1));
  co_return out;
}

}  // namespace uringmig::engine::bulk

namespace uringmig::engine {

std::vector<std::string> order_matviews(std::map<std::uint32_t, matview_node>& all) {
  std::vector<std::string> emptied;
  bool changed = true;
  while (changed) {
    changed = false;
    for (auto& [oid, m] : all) {
      if (m.level >= 0) continue;
      int level = 0;
      bool ready = true;
      bool reads_empty = false;
      for (auto d : m.deps) {
        auto it = all.find(d);
        if (it == all.end()) continue;
        if (it->second.level < 0) {
          ready = false;
          break;
        }
        level = std::max(level, it->second.level + 1);
        reads_empty = reads_empty || !it->second.populated;
      }
      if (!ready) continue;
      if (reads_empty && m.populated) {
        m.populated = false;
        emptied.push_back(m.name);
      }
      m.level = level;
      changed = true;
    }
  }
  return emptied;
}

}  // namespace uringmig::engine
