// What keeps a bulk run safe: settings the servers judge, tried before anything moves; the
// source locks; the state directory against the target; the post-data of a run whose tables
// did not all arrive; tables of the plan that a resume leaves out.
#include "codecs/sql_text.hpp"
#include "engine/bulk/internal.hpp"
#include "engine/core/settings.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <sstream>

namespace uringmig::engine::bulk {

namespace asio = boost::asio;

namespace {

/// A server-side setting the job uses later (an index build, a lock) is tried now, so a bad
/// value stops the run before any data moves.
asio::awaitable<void> try_setting(pg::connection& c, const std::string& key,
                                  const std::string& parameter, const std::string& value,
                                  const std::string& want) {
  pg::result r =
      co_await c.query("select set_config($1, $2, false)", pg::make_params(parameter, value));
  if (!r.ok())
    throw usage_error(fmt::format("{} = '{}': {} (want {})", key, value, r.error().message, want));
  (co_await c.query("RESET " + parameter)).check("RESET " + parameter);
}

std::string object_list(const std::set<object_id>& objects) {
  std::string out;
  for (const auto& [c, o] : objects)
    out += fmt::format("{}{}/{}", out.empty() ? "" : " ", c, o);
  return out;
}

std::set<object_id> parse_object_list(const std::string& text) {
  std::set<object_id> out;
  std::istringstream in(text);
  std::string item;
  while (in >> item) {
    unsigned c = 0, o = 0;
    if (std::sscanf(item.c_str(), "%u/%u", &c, &o) == 2) out.insert({c, o});
  }
  return out;
}

}  // namespace

std::string lock_timeout(const job_spec& opts) {
  return opts.config.bulk.lock_timeout;
}

asio::awaitable<void> check_server_settings(const job_spec& opts, pg::connection& src,
                                            pg::connection& dst) {
  if (const auto& v = opts.config.bulk.maintenance_work_mem; v && !v->empty())
    co_await try_setting(dst, "index.maintenance_work_mem", "maintenance_work_mem", *v,
                         "a size such as \"1GB\"");
  co_await try_setting(src, "copy.lock_timeout", "lock_timeout", lock_timeout(opts),
                       "a duration such as \"30s\"");
}

job_error locked_error(const std::string& table, const std::string& timeout) {
  return job_error(fmt::format(
      "{} on the source is locked by another session for longer than copy.lock_timeout ({}) "
      "(ALTER TABLE, TRUNCATE, VACUUM FULL, ...): let it finish or raise copy.lock_timeout, then "
      "run the same command",
      table, timeout));
}

asio::awaitable<std::string> locked_tables(pg::connection& src) {
  (void)co_await src.query("ROLLBACK");
  pg::result r = co_await src.query(
      "select string_agg(distinct format('%I.%I', n.nspname, c.relname), ', ') from pg_locks l "
      "join pg_database d on d.oid = l.database and d.datname = current_database() "
      "join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace "
      "where l.locktype = 'relation' and l.mode = 'AccessExclusiveLock' and l.granted "
      "and l.pid <> pg_backend_pid()");
  if (!r.ok() || r.rows() == 0 || r.is_null(0, 0)) co_return "a table";
  co_return std::string(r.value(0, 0));
}

/// In the snapshot's transaction: waits for a table lock end after copy.lock_timeout.
asio::awaitable<void> set_lock_timeout(const job_spec& opts, pg::connection& src) {
  (co_await src.query("select set_config('lock_timeout', $1, true)",
                      pg::make_params(lock_timeout(opts))))
      .check("copy.lock_timeout");
}

/// On resume the target's own marks are the truth: a target that lost what the state directory
/// says was done (dropped and created again, restored from an old backup) is refused.
asio::awaitable<void> check_target_matches_state(job& j, pg::connection& dst, bool target_empty,
                                                 const std::vector<planned_table>& plan) {
  if (j.state.get("phase.pre_data") != "done") co_return;
  std::size_t in_state = 0;
  for (const auto& p : plan)
    in_state += j.state.done_chunks(p.schema, p.name).size();
  pg::result has = co_await dst.query("select to_regclass('uringmig.chunk_done') is not null");
  has.check("looking for the done chunks on the target");
  long long on_target = -1;
  if (has.value(0, 0) == "t") {
    pg::result r = co_await dst.query("select count(*) from uringmig.chunk_done");
    r.check("reading the done chunks on the target");
    on_target = std::stoll(std::string(r.value(0, 0)));
  }
  if (!target_empty && on_target >= static_cast<long long>(in_state)) co_return;
  throw usage_error(fmt::format(
      "the target does not hold what the job in {} did ({}; the state records the schema and {} "
      "copied chunk(s)): was the target database created again? Run with --restart to start "
      "over, or use --state-dir for a new job",
      j.opts.state_dir.string(),
      target_empty ? "it has no tables"
                   : fmt::format("{} chunk(s) marked done on it", std::max(0LL, on_target)),
      in_state));
}

/// A table of the saved plan that this run does not copy: left out by the filters (a new
/// --exclude: "excluded", not a failure) or gone from the source.
asio::awaitable<void> leave_out(job& j, pg::connection& src, const planned_table& p) {
  pg::result r = co_await src.query(
      "select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace "
      "where n.nspname = $1 and c.relname = $2",
      pg::make_params(p.schema, p.name));
  r.check("looking up " + p.schema + "." + p.name + " on the source");
  if (r.rows() > 0) {
    spdlog::info("table {}.{} of the plan is excluded by the filters: not copied", p.schema,
                 p.name);
    // Not a failure: pending in the state (a later run without the filter copies it), "excluded"
    // in this run's summary.
    j.state.set_table_status(p.schema, p.name, table_status::pending);
    j.excluded.insert(p.schema + "." + p.name);
  } else {
    spdlog::warn("table {}.{} of the plan is gone from the source: skipped", p.schema, p.name);
  }
}

/// ACCESS SHARE on every selected table in the session that holds the snapshot, as pg_dump
/// does: the snapshot alone does not keep TRUNCATE or a rewriting ALTER TABLE from emptying a
/// table not read yet. They now wait for the copy; a lock held elsewhere ends the run clearly.
asio::awaitable<void> lock_source_tables(const job_spec& opts, pg::connection& src,
                                         const std::vector<table_info>& tables) {
  const std::string timeout = lock_timeout(opts);
  std::vector<pg::statement> b;
  for (const auto& t : tables)
    b.push_back({"LOCK TABLE ONLY " + t.qualified() + " IN ACCESS SHARE MODE", {}, false});
  auto rs = co_await src.pipeline(std::move(b));
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (rs[i].ok() || rs[i].aborted()) continue;
    if (rs[i].error().sqlstate == "55P03") throw locked_error(tables[i].display(), timeout);
    rs[i].check("locking " + tables[i].display() + " on the source");
  }
  (co_await src.query("select set_config('lock_timeout', '0', true)")).check("lock_timeout");
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

/// Post-data for every table that arrived: what depends on a failed table waits (named in
/// j.post_data_skipped) and a later run restores it, after the objects restored before.
asio::awaitable<void> restore_post_data(
    job& j, pg::connection& src, const std::map<std::uint32_t, std::vector<index_def>>& indexes) {
  std::set<std::uint32_t> ours;
  for (const auto& [oid, defs] : indexes)
    for (const auto& d : defs) {
      ours.insert(d.index_oid);
      if (d.constraint_oid) ours.insert(d.constraint_oid);
    }
  std::vector<std::uint32_t> failed;
  for (const auto& w : j.tables)
    if (w->failed) failed.push_back(w->info.oid);
  // Restored by an earlier run that had failed tables.
  std::set<object_id> skip = parse_object_list(j.state.get("post_data.restored").value_or(""));
  const std::set<object_id> earlier = skip;
  std::map<object_id, std::string> waiting;
  if (!failed.empty()) waiting = co_await dependents_of(src, failed);
  for (const auto& [id, what] : waiting)
    skip.insert(id);
  spdlog::info("restoring the schema (post-data) on the target");
  restore_result res = co_await restore_section(j, "post-data", false, ours, skip);
  // Waiting: what the section holds and was left out for a failed table.
  for (const auto& [id, what] : waiting)
    if (res.left_out.count(id) && !earlier.count(id)) j.post_data_skipped.push_back(what);
  if (j.post_data_skipped.empty()) {
    j.state.put("phase.post_data", "done");
    j.state.erase("post_data.restored");
  } else {
    res.restored.insert(earlier.begin(), earlier.end());
    j.state.put("post_data.restored", object_list(res.restored));
  }
}

}  // namespace uringmig::engine::bulk
