// The bulk clone's schema side: pg_dump / pg_restore, the indexes we build
// ourselves, sequences, and the bookkeeping schema on the target.
#include "codecs/sql_text.hpp"
#include "engine/bulk/internal.hpp"
#include "engine/bulk/pg_tools.hpp"
#include "engine/core/object_names.hpp"
#include "io/blocking.hpp"
#include "io/sleep.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <fstream>

namespace uringmig::engine::bulk {

namespace asio = boost::asio;

asio::awaitable<void> dump_schema(job& j, const std::vector<table_info>& selected,
                                  pg::connection& src) {
  // Everything in the selected schemas, minus the tables the filters leave
  // out (pg_dump drops their indexes, constraints and triggers with them).
  const table_filter f = make_filter(j.opts);
  const std::set<std::string> keep = co_await schema_tables(src, selected, f);
  pg::result all = co_await src.query(
      "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
      "where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema', "
      "'uringmig', 'uringmig_state') and n.nspname not like 'pg\\_%'");
  all.check("listing the source tables for pg_dump");
  std::vector<std::string> args = {"--format=custom", "--schema-only", "--no-sync",
                                   "--file=" + j.dump_file.string()};
  if (const std::string snap = j.current_snapshot(); !snap.empty())
    args.push_back("--snapshot=" + snap);
  for (const auto& s : f.include_schemas)
    args.push_back("--schema=" + codecs::quote_ident(s));
  for (const auto& s : f.exclude_schemas)
    args.push_back("--exclude-schema=" + codecs::quote_ident(s));
  // Our bookkeeping on a source that was itself a clone's target; the target gets its own.
  args.push_back("--exclude-schema=uringmig");
  for (int i = 0; i < all.rows(); ++i) {
    const std::string schema(all.value(i, 0));
    const std::string name(all.value(i, 1));
    if (!keep.count(schema + "." + name))
      args.push_back("--exclude-table=" + codecs::qualified_name(schema, name));
  }
  const auto program = j.bin_dir / "pg_dump";
  const std::string conninfo = conninfo_of(j.source);
  auto out = co_await io::run_blocking(
      [&] { return run_pg_tool(program, args, conninfo, false, j.app_name); });
  if (out.exit_code != 0) {
    spdlog::error("pg_dump failed:\n{}", out.err);
    throw job_error("pg_dump of the source schema failed: " + error_line(out.err));
  }
}

asio::awaitable<void> restore_section(job& j, const std::string& section, bool clean,
                                      const std::set<std::uint32_t>& skip_oids) {
  (void)co_await restore_section(j, section, clean, skip_oids, {});
}

asio::awaitable<restore_result> restore_section(job& j, const std::string& section, bool clean,
                                                const std::set<std::uint32_t>& skip_oids,
                                                const std::set<object_id>& skip) {
  restore_result res;
  const auto pg_restore = j.bin_dir / "pg_restore";
  std::vector<std::string> args = {"--section=" + section, "--exit-on-error"};
  if (clean) {
    args.push_back("--clean");
    args.push_back("--if-exists");
  }
  if (j.opts.config.bulk.no_owner) args.push_back("--no-owner");
  if (j.opts.config.bulk.no_acl) args.push_back("--no-privileges");
  std::int64_t entries = 0;
  {
    // A list file without the entries we build ourselves, nor the publications of online jobs
    // (ours is created before the dump; a clone must not carry it), nor what waits for a table
    // that failed.
    auto listing = co_await io::run_blocking([&] {
      return run_pg_tool(pg_restore, {"--list", j.dump_file.string()}, "dbname=postgres", true);
    });
    if (listing.exit_code != 0)
      throw job_error("pg_restore --list failed: " + last_line(listing.err));
    const auto list_file = j.dump_file.string() + "." + section + ".list";
    std::ofstream lf(list_file);
    for (const auto& e : parse_toc(listing.out)) {
      if ((e.desc == "INDEX" || e.desc == "CONSTRAINT") && skip_oids.count(e.object_oid)) continue;
      if (is_job_publication(toc_publication(e))) continue;
      if (skip.count({e.class_oid, e.object_oid})) {
        res.left_out.insert({e.class_oid, e.object_oid});
        continue;
      }
      if (e.class_oid != 0) res.restored.insert({e.class_oid, e.object_oid});
      lf << e.line << '\n';
      ++entries;
    }
    lf.close();
    args.push_back("--use-list=" + list_file);
  }
  // All or nothing, unless the objects would not fit the target's lock table in one
  // transaction (an interrupted restore is then detected on resume: see bulk/run.cpp).
  if (j.lock_budget == 0 || entries <= j.lock_budget / 2) {
    args.push_back("--single-transaction");
  } else {
    spdlog::info(
        "restoring {} ({} entries) one transaction per object: more than the target's "
        "lock table ({} locks) holds in one",
        section, entries, j.lock_budget);
  }
  args.push_back(j.dump_file.string());
  const std::string conninfo = conninfo_of(j.target);
  auto out = co_await io::run_blocking(
      [&] { return run_pg_tool(pg_restore, args, conninfo, false, j.app_name); });
  if (out.exit_code != 0) {
    spdlog::error("pg_restore --section={} failed:\n{}", section, out.err);
    throw job_error("restoring the schema (" + section + ") on the target failed: " +
                    error_line(out.err) + " (pg_restore's full output is in the log)");
  }
  co_return res;
}

asio::awaitable<std::map<object_id, std::string>> dependents_of(
    pg::connection& src, const std::vector<std::uint32_t>& tables) {
  const std::string oids = oid_array(tables);
  pg::result r = co_await src.query(
      "with recursive d(classid, objid) as ("
      "  select classid, objid from pg_depend where refclassid = 'pg_class'::regclass "
      "    and refobjid = any($1::oid[]) and deptype in ('n', 'a') "
      "  union "
      "  select p.classid, p.objid from pg_depend p join d on p.refclassid = d.classid "
      "    and p.refobjid = d.objid where p.deptype in ('n', 'a')) "
      "select classid, objid, pg_describe_object(classid, objid, 0) from d",
      pg::make_params(oids));
  r.check("listing the objects that depend on the failed tables");
  std::map<object_id, std::string> out;
  for (int i = 0; i < r.rows(); ++i)
    out[{to_oid(r.value(i, 0)), to_oid(r.value(i, 1))}] = r.value(i, 2);
  co_return out;
}

asio::awaitable<void> end_leftover_sessions(job& j, pg::connection& dst) {
  const auto ours =
      "application_name = $1 and pid <> pg_backend_pid() and datname = "
      "current_database()";
  pg::result r = co_await dst.query(
      std::string("select pid, pg_terminate_backend(pid) from pg_stat_activity where ") + ours,
      pg::make_params(j.app_name));
  if (!r.ok())
    throw job_error("cannot end the sessions a killed run of this job left on the target: " +
                    r.error().message +
                    "; end them yourself (pg_terminate_backend) and run the same command again");
  if (r.rows() == 0) co_return;
  spdlog::info("ended {} session(s) that a killed run of this job left on the target", r.rows());
  const auto stop = j.rt.stop_token();
  for (int i = 0; i < 300; ++i) {
    pg::result left = co_await dst.query(
        std::string("select string_agg(pid::text, ', ') from pg_stat_activity where ") + ours,
        pg::make_params(j.app_name));
    left.check("waiting for the sessions of a killed run to end");
    if (left.is_null(0, 0)) co_return;
    if (!co_await io::sleep_unless_stopped(std::chrono::milliseconds(100), stop)) co_return;
    if (i == 299)
      throw job_error("sessions a killed run of this job left on the target (pids " +
                      std::string(left.value(0, 0)) +
                      ") did not end: end them (pg_terminate_backend) and run the same command "
                      "again");
  }
}

asio::awaitable<int> drop_invalid_indexes(pg::connection& dst) {
  pg::result r = co_await dst.query(
      "select format('%I.%I', n.nspname, c.relname) from pg_index i "
      "join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace "
      "where not i.indisvalid and n.nspname not in ('pg_catalog', 'information_schema')");
  r.check("listing invalid indexes on the target");
  for (int i = 0; i < r.rows(); ++i) {
    const std::string name(r.value(i, 0));
    spdlog::info("dropping the invalid index {} left by a killed run", name);
    (co_await dst.query("DROP INDEX IF EXISTS " + name)).check("dropping invalid index " + name);
  }
  co_return r.rows();
}

namespace {

/// What pg_dump writes along with an index, and so is lost when we build the index ourselves:
/// CLUSTER ON, REPLICA IDENTITY USING INDEX, statistics targets of expression columns, comments
/// on the index and on its constraint. Columns 9 and 11–17 of list_indexes' query.
void add_index_extras(const pg::result& r, int i, index_def& d) {
  const std::string table(r.value(i, 9));
  // ADD CONSTRAINT ... USING INDEX renames the index to the constraint's name. CLUSTER ON and
  // REPLICA IDENTITY take it unqualified (it lives in the table's schema).
  const std::string name =
      d.constraint_name.empty() ? d.name : codecs::quote_ident(d.constraint_name);
  const std::string index = std::string(r.value(i, 14)) + "." + name;
  if (r.value(i, 12) == "t") d.after_sql.push_back("ALTER TABLE " + table + " CLUSTER ON " + name);
  if (r.value(i, 13) == "t") {
    d.after_sql.push_back("ALTER TABLE " + table + " REPLICA IDENTITY USING INDEX " + name);
  }
  if (!r.is_null(i, 17)) {
    std::string_view all = r.value(i, 17);
    while (!all.empty()) {
      const auto semi = all.find(';');
      d.after_sql.emplace_back(all.substr(0, semi));
      all = semi == std::string_view::npos ? std::string_view{} : all.substr(semi + 1);
    }
  }
  if (!r.is_null(i, 15)) {
    d.after_sql.push_back("COMMENT ON INDEX " + index + " IS " +
                          codecs::quote_literal(r.value(i, 15)));
  }
  if (!r.is_null(i, 16) && !d.constraint_name.empty()) {
    d.after_sql.push_back("COMMENT ON CONSTRAINT " + codecs::quote_ident(d.constraint_name) +
                          " ON " + table + " IS " + codecs::quote_literal(r.value(i, 16)));
  }
}

}  // namespace

asio::awaitable<std::map<std::uint32_t, std::vector<index_def>>> list_indexes(
    pg::connection& src, const std::vector<table_info>& tables) {
  const std::string oids = oid_array(tables);
  pg::result r = co_await src.query(
      "select i.indrelid, i.indexrelid, quote_ident(ic.relname), pg_get_indexdef(i.indexrelid), "
      "  coalesce(con.oid, 0), coalesce(con.contype, ' '), coalesce(con.conname, ''), "
      "  coalesce(con.condeferrable, false), coalesce(con.condeferred, false), "
      "  quote_ident(n.nspname) || '.' || quote_ident(c.relname), ic.relpages::bigint * 8192, "
      "  i.indisvalid, i.indisclustered, i.indisreplident, quote_ident(n.nspname), "
      "  obj_description(i.indexrelid, 'pg_class'), obj_description(con.oid, 'pg_constraint'), "
      "  (select string_agg(format('ALTER INDEX %s.%I ALTER COLUMN %s SET STATISTICS %s', "
      "     quote_ident(n.nspname), ic.relname, a.attnum, a.attstattarget), ';') "
      "   from pg_attribute a where a.attrelid = i.indexrelid and a.attstattarget >= 0) "
      "from pg_index i join pg_class ic on ic.oid = i.indexrelid "
      "join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace "
      "left join pg_constraint con on con.conindid = i.indexrelid and con.conrelid = i.indrelid "
      "  and con.contype in ('p', 'u', 'x') "
      "where i.indrelid = any($1::oid[]) and not c.relispartition and ic.relkind = 'i' "
      "order by i.indrelid, con.contype nulls last, ic.relname",
      pg::make_params(oids));
  r.check("listing the source indexes");
  std::map<std::uint32_t, std::vector<index_def>> out;
  for (int i = 0; i < r.rows(); ++i) {
    const char contype = r.value(i, 5)[0];
    if (contype == 'x') continue;         // exclusion constraints: pg_restore's post-data
    if (r.value(i, 11) != "t") continue;  // invalid (a failed CONCURRENTLY build): pg_dump skips it
    index_def d;
    d.index_oid = to_oid(r.value(i, 1));
    d.name = r.value(i, 2);
    std::string def(r.value(i, 3));
    const auto pos = def.find(" INDEX ");
    if (pos != std::string::npos) def.insert(pos + 7, "IF NOT EXISTS ");
    d.create_sql = std::move(def);
    // The catalog's size (as of the last build or VACUUM) orders the builds well enough;
    // pg_relation_size, which opens every index's files, took a second per 10 000 indexes.
    d.bytes = std::stoll(std::string(r.value(i, 10)));
    if (contype == 'p' || contype == 'u') {
      d.constraint_oid = to_oid(r.value(i, 4));
      d.constraint_name = r.value(i, 6);
      d.kind = contype == 'p' ? index_kind::primary_key : index_kind::unique_constraint;
      d.constraint_sql = "ALTER TABLE " + std::string(r.value(i, 9)) + " ADD CONSTRAINT " +
                         codecs::quote_ident(d.constraint_name) +
                         (contype == 'p' ? " PRIMARY KEY" : " UNIQUE") + " USING INDEX " + d.name;
      if (r.value(i, 7) == "t")
        d.constraint_sql += r.value(i, 8) == "t" ? " DEFERRABLE INITIALLY DEFERRED" : " DEFERRABLE";
    }
    add_index_extras(r, i, d);
    out[to_oid(r.value(i, 0))].push_back(std::move(d));
  }
  co_return out;
}

asio::awaitable<int> copy_sequences(pg::connection& src, pg::connection& dst) {
  // The sequences the schema restore created on the target, with the source's values.
  pg::result seqs = co_await dst.query(
      "select quote_ident(schemaname) || '.' || quote_ident(sequencename) from pg_sequences "
      "where schemaname not in ('pg_catalog', 'information_schema', 'uringmig', 'uringmig_state')");
  seqs.check("listing the target's sequences");
  // Every read in one pipeline, every setval in another: two round trips for any number of
  // sequences. A sequence the source cannot read is skipped, not fatal: its failure aborts the
  // reads after it in the pipeline, which are then read again one by one.
  std::vector<pg::statement> reads;
  for (int i = 0; i < seqs.rows(); ++i)
    reads.push_back(
        {"select last_value, is_called from " + std::string(seqs.value(i, 0)), {}, false});
  std::vector<pg::result> got;
  if (!reads.empty()) got = co_await src.pipeline(std::move(reads));
  std::vector<pg::statement> sets;
  std::vector<std::string> names;
  for (int i = 0; i < seqs.rows(); ++i) {
    const std::string name(seqs.value(i, 0));
    pg::result v = std::move(got.at(static_cast<std::size_t>(i)));
    if (v.aborted()) v = co_await src.query("select last_value, is_called from " + name);
    if (!v.ok()) {
      spdlog::warn("sequence {}: cannot read it on the source: {}", name, v.error().message);
      continue;
    }
    sets.push_back({"select pg_catalog.setval($1::regclass, $2::bigint, $3::bool)",
                    pg::make_params(name, std::string(v.value(0, 0)), std::string(v.value(0, 1))),
                    false});
    names.push_back(name);
  }
  if (sets.empty()) co_return 0;
  auto done = co_await io::run_on(dst.executor(), dst.pipeline(std::move(sets)));
  for (std::size_t i = 0; i < done.size(); ++i)
    done[i].check("setting sequence " + names[i]);
  co_return static_cast<int>(done.size());
}

asio::awaitable<std::vector<std::string>> user_tables(pg::connection& c, int limit) {
  pg::result r = co_await c.query(
      "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = "
      "c.relnamespace where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', "
      "'information_schema', 'uringmig', 'uringmig_state') and n.nspname not like 'pg\\_%' order "
      "by 1 limit " +
      std::to_string(limit));
  r.check("checking whether the target is empty");
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i)
    out.emplace_back(r.value(i, 0));
  co_return out;
}

asio::awaitable<void> prepare_target(pg::connection& dst, bool restart) {
  if (restart) (co_await dst.simple("DROP SCHEMA IF EXISTS uringmig CASCADE")).check("--restart");
  (co_await dst.simple(
       "CREATE SCHEMA IF NOT EXISTS uringmig; "
       "CREATE TABLE IF NOT EXISTS uringmig.chunk_done (schema_name text, table_name text, "
       "chunk_no int, rows bigint, done_at timestamptz DEFAULT now(), "
       "PRIMARY KEY (schema_name, table_name, chunk_no))"))
      .check("creating the uringmig bookkeeping schema on the target");
}

asio::awaitable<std::set<std::tuple<std::string, std::string, int>>> target_done_marks(
    pg::connection& dst) {
  pg::result r =
      co_await dst.query("select schema_name, table_name, chunk_no from uringmig.chunk_done");
  r.check("reading the done chunks on the target");
  std::set<std::tuple<std::string, std::string, int>> out;
  for (int i = 0; i < r.rows(); ++i)
    out.emplace(std::string(r.value(i, 0)), std::string(r.value(i, 1)),
                std::stoi(std::string(r.value(i, 2))));
  co_return out;
}

}  // namespace uringmig::engine::bulk
