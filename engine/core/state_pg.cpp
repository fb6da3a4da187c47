// The PostgreSQL implementation of the state store: schema `uringmig_state`, rows keyed by job.
#include "engine/core/state_pg.hpp"

#include "codecs/url.hpp"
#include "engine/core/job.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/workers.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/awaitable.hpp>

#include <map>
#include <utility>

namespace uringmig::engine::detail {

namespace asio = boost::asio;

namespace {

// Serialises the schema's creation between workers that arrive together (pg_advisory_xact_lock;
// "urmg" in ASCII).
constexpr const char* create_lock_sql = "SELECT pg_advisory_xact_lock(1970433383)";

std::string num(std::int64_t v) {
  return std::to_string(v);
}
std::string num(double v) {
  return fmt::format("{}", v);
}

/// The statements of this file (make_stmt, spelt short).
constexpr auto& stmt = make_stmt;

}  // namespace

pg_state::pg_state(std::string shown_url, std::string job, int reconnect_s)
    : shown_(std::move(shown_url)), job_(std::move(job)), reconnect_s_(reconnect_s) {}

pg_state::~pg_state() {
  try {
    ctx_.call(close_on(std::move(conn_)));
  } catch (...) {  // NOLINT(bugprone-empty-catch): closing a broken connection
  }
}

std::string pg_state::where() const {
  return shown_ + " (schema uringmig_state, job " + job_ + ")";
}

void pg_state::fail(const pg::diagnostics& d) const {
  throw job_error("state database " + shown_ + ": " + d.to_string());
}

bool pg_state::connect(const std::string& conninfo, bool create) {
  conninfo_ = conninfo;
  try {
    conn_ = ctx_.call(connect_on(ctx_.executor(), conninfo));
    note_session();
  } catch (const pg::error& e) {
    throw usage_error("cannot connect to the state database " + shown_ + ": " + e.diag().message +
                      " (check --state-url)");
  }
  const auto present = query("SELECT to_regclass('uringmig_state.version') IS NOT NULL", {});
  if (present.value(0, 0) != "t") {
    if (!create) return false;
    std::vector<pg::statement> b;
    b.push_back(stmt(create_lock_sql, {}));
    // Another worker may have made it while this one waited for the lock.
    b.push_back(stmt("SELECT to_regclass('uringmig_state.version') IS NOT NULL", {}));
    const auto again = batch(std::move(b));
    if (again[1].value(0, 0) != "t") {
      std::vector<pg::statement> make;
      make.push_back(stmt("BEGIN", {}));
      make.push_back(stmt(create_lock_sql, {}));
      for (const char* sql : pg_state_ddl(0))
        make.push_back(stmt(sql, {}));
      make.push_back(stmt("INSERT INTO uringmig_state.version VALUES ($1)",
                          pg::make_params(std::to_string(pg_state_version))));
      make.push_back(stmt("COMMIT", {}));
      std::lock_guard lk(mu_);
      auto out = ctx_.call(batch_on(conn_, std::move(make)));
      for (const auto& r : out) {
        if (r.ok() || r.aborted()) continue;
        if (r.error().sqlstate == "42P06") {
          // Made meanwhile by a worker on another lock. The pipeline skipped our COMMIT: end
          // the aborted transaction, or every later statement fails (25P02).
          (void)ctx_.call(query_on(conn_, "ROLLBACK", {}));
          break;
        }
        if (r.error().sqlstate == "42501")
          throw usage_error("the state database user may not create schema uringmig_state in " +
                            shown_ +
                            ": grant it CREATE on the database (or create the schema for it), "
                            "or pass another --state-url");
        fail(r.error());
      }
    }
  }
  const auto v = query("SELECT max(version) FROM uringmig_state.version", {});
  const int version = v.is_null(0, 0) ? 0 : std::stoi(std::string(v.value(0, 0)));
  if (version > pg_state_version)
    throw job_error(fmt::format(
        "the state schema uringmig_state in {} has version {}, newer than this uringmig knows "
        "({}); use the uringmig that wrote it or another --state-url",
        shown_, version, pg_state_version));
  if (version < 1)
    throw job_error("schema uringmig_state in " + shown_ +
                    " is not a uringmig state (its version table is empty); drop it or pass "
                    "another --state-url");
  if (version < pg_state_version) {
    // Reading (status, top, the HTTP API, plan) changes nothing: its user may only read.
    if (!create)
      throw usage_error(fmt::format(
          "the state schema uringmig_state in {} has version {}, older than this uringmig's "
          "({}): run the job's workers once with this uringmig (they upgrade it), or read it "
          "with the uringmig that wrote it",
          shown_, version, pg_state_version));
    migrate(version);
  }
  return true;
}

void pg_state::migrate(int from) {
  std::vector<pg::statement> b;
  b.push_back(stmt("BEGIN", {}));
  b.push_back(stmt(create_lock_sql, {}));
  for (const char* sql : pg_state_ddl(from))
    b.push_back(stmt(sql, {}));
  b.push_back(stmt("UPDATE uringmig_state.version SET version = $1 WHERE version < $1",
                   pg::make_params(std::to_string(pg_state_version))));
  b.push_back(stmt("COMMIT", {}));
  try {
    batch(std::move(b));
  } catch (...) {
    std::lock_guard lk(mu_);
    (void)ctx_.call(query_on(conn_, "ROLLBACK", {}));
    throw;
  }
  spdlog::info("state schema uringmig_state in {}: upgraded from version {} to {}", shown_, from,
               pg_state_version);
}

std::vector<std::string> pg_state::jobs() const {
  const auto r = query(
      "SELECT job FROM uringmig_state.job_table UNION SELECT job FROM uringmig_state.run "
      "UNION SELECT job FROM uringmig_state.kv ORDER BY 1",
      {});
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i)
    out.emplace_back(r.value(i, 0));
  return out;
}

std::unique_ptr<state_backend> open_pg_state(const std::string& url, const std::string& job,
                                             bool create, int reconnect_s) {
  auto parsed = codecs::parse_endpoint(url);
  if (!parsed) throw usage_error("invalid --state-url: " + parsed.error);
  if (parsed.value->kind() != codecs::endpoint_kind::postgres)
    throw usage_error(
        "--state-url must be a postgresql:// URL (the state lives in a schema there)");
  auto p = std::make_unique<pg_state>(codecs::redacted_url(*parsed.value), job, reconnect_s);
  if (!p->connect(conninfo_of(*parsed.value), create)) return nullptr;
  if (create) {
    if (job.empty()) throw usage_error("a job in a state database needs a name (--job NAME)");
    return p;
  }
  p->with_workers(true);
  const auto names = p->jobs();
  if (job.empty()) {
    if (names.empty()) return nullptr;
    if (names.size() > 1) {
      std::string list;
      for (const auto& n : names)
        list += (list.empty() ? "" : ", ") + n;
      throw usage_error("the state database holds several jobs (" + list +
                        "): name one with --job, or give the job's --source and --target");
    }
    p->set_job(names.front());
    return p;
  }
  for (const auto& n : names)
    if (n == job) return p;
  return nullptr;
}

// ---- the calls --------------------------------------------------------------------------------

void pg_state::reset() {
  std::vector<pg::statement> b;
  for (const char* t : {"chunk", "job_index", "job_table", "kv", "run"})
    b.push_back(stmt(fmt::format("DELETE FROM uringmig_state.{} WHERE job = $1", t),
                     pg::make_params(job_)));
  batch(std::move(b));
}

// A run holds a session advisory lock on its id while its process lives: the next run marks only
// the runs nobody holds as interrupted, never a live worker's. One process runs a job at a time,
// as with a state directory — a session advisory lock on the job's name, held from begin_run
// until end_run or the session's end (kill -9 included) — except the workers of one job (bulk,
// shards, Doris, incremental), which hold it shared.
std::string run_alive_sql(const std::string& id, int grace_s) {
  // Advisory locks belong to a database: another state database on the server has runs of the
  // same ids.
  std::string sql = fmt::format(
      "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.database = (SELECT "
      "oid FROM pg_database WHERE datname = current_database()) AND l.classid = {} AND "
      "l.objid = (({}) % 2147483648)::oid AND l.objsubid = 2 AND l.granted)",
      run_lock_class, id);
  if (grace_s <= 0) return sql;
  return fmt::format(
      "({} OR EXISTS (SELECT 1 FROM uringmig_state.run g WHERE g.id = ({}) AND g.status = "
      "'running' AND g.started_at < pg_postmaster_start_time() AND pg_postmaster_start_time() > "
      "clock_timestamp() - {} * interval '1 second'))",
      sql, id, grace_s);
}

std::int64_t pg_state::begin_run(const run_start& r) {
  worker_run_ = r.worker;
  const auto got = query(fmt::format("SELECT pg_try_advisory_lock{}({}, hashtext($1))",
                                     r.worker ? "_shared" : "", job_lock_class),
                         pg::make_params(job_));
  if (std::string_view(got.value(0, 0)) != "t") {
    throw job_error("job '" + job_ +
                    "' is running in another uringmig process on this state database (one "
                    "process per job, except the workers of a bulk, shard, Doris or incremental "
                    "job: wait for it, or pass another --job)");
  }
  job_locked_ = true;
  std::vector<pg::statement> b;
  b.push_back(
      stmt(fmt::format("UPDATE uringmig_state.run SET status = 'interrupted', "
                       "finished_at = coalesce(finished_at, clock_timestamp()), message = CASE "
                       "WHEN message = '' THEN 'the process ended without recording an outcome' "
                       "ELSE message END WHERE job = $1 AND status = 'running' AND NOT {}",
                       run_alive_sql("run.id")),
           pg::make_params(job_)));
  // The run's lock is taken in the statement that inserts it: another process's begin_run that
  // sees the row 'running' sees its lock too (taken after the commit, a worker starting in
  // between marked a live run interrupted, and live_runs missed it).
  b.push_back(stmt(
      fmt::format(
          "WITH ins AS (INSERT INTO uringmig_state.run (job, command, preset, source_redacted, "
          "target_redacted, snapshot, status, host, pid, worker) VALUES ($1, $2, $3, $4, $5, $6, "
          "'running', $7, $8, $9) RETURNING id) SELECT id, pg_advisory_lock({}, (id % "
          "2147483648)::int)::text FROM ins",
          run_lock_class),
      pg::make_params(job_, r.command, r.preset, codecs::redact(r.source_redacted),
                      codecs::redact(r.target_redacted), r.snapshot, host_name(),
                      num(std::int64_t{::getpid()}), std::string(r.worker ? "t" : "f"))));
  const auto out = batch(std::move(b));
  const std::int64_t id = std::stoll(std::string(out[1].value(0, 0)));
  run_id_ = id;
  run_locked_ = true;  // taken by the INSERT above
  return id;
}

void pg_state::set_run_snapshot(std::int64_t run_id, std::string_view snapshot) {
  query("UPDATE uringmig_state.run SET snapshot = $2 WHERE job = $1 AND id = $3",
        pg::make_params(job_, std::string(snapshot), num(run_id)));
}

void pg_state::end_run(std::int64_t run_id, run_status status, std::string_view message) {
  query(
      "UPDATE uringmig_state.run SET status = $2, message = $3, finished_at = "
      "clock_timestamp() WHERE job = $1 AND id = $4",
      pg::make_params(job_, std::string(to_string(status)), codecs::redact(message), num(run_id)));
  run_locked_ = false;
  query(
      fmt::format("SELECT pg_advisory_unlock({}, ($1::bigint % 2147483648)::int)", run_lock_class),
      pg::make_params(num(run_id)));
  job_locked_ = false;
  query(fmt::format("SELECT pg_advisory_unlock{}({}, hashtext($1))", worker_run_ ? "_shared" : "",
                    job_lock_class),
        pg::make_params(job_));
}

void pg_state::save_plan(const std::vector<planned_table>& plan) {
  std::vector<pg::statement> b;
  b.push_back(stmt("BEGIN", {}));
  for (const char* t : {"chunk", "job_index", "job_table"})
    b.push_back(stmt(fmt::format("DELETE FROM uringmig_state.{} WHERE job = $1", t),
                     pg::make_params(job_)));
  std::int64_t order = 0;
  std::int64_t claim_order = 0;  // claims follow the plan: its tables in order, chunks in order
  for (const auto& pt : plan) {
    b.push_back(stmt(
        "INSERT INTO uringmig_state.job_table (job, schema, name, plan_order, bytes, "
        "rows_estimate, chunk_count) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        pg::make_params(job_, pt.schema, pt.name, num(order++), num(pt.bytes),
                        num(pt.rows_estimate), num(static_cast<std::int64_t>(pt.chunks.size())))));
    for (const auto& c : pt.chunks)
      b.push_back(
          stmt("INSERT INTO uringmig_state.chunk (job, schema, name, chunk_no, kind, "
               "lower, upper, where_sql, claim_order) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
               pg::make_params(job_, pt.schema, pt.name, num(std::int64_t{c.chunk_no}),
                               std::string(to_string(c.kind)), c.lower, c.upper, c.where_sql,
                               num(claim_order++))));
  }
  b.push_back(stmt("COMMIT", {}));
  batch(std::move(b));
}

bool pg_state::has_plan() const {
  return query("SELECT EXISTS (SELECT 1 FROM uringmig_state.job_table WHERE job = $1)",
               pg::make_params(job_))
             .value(0, 0) == "t";
}

std::vector<planned_table> pg_state::load_plan() const {
  std::vector<pg::statement> b;
  b.push_back(stmt("BEGIN ISOLATION LEVEL REPEATABLE READ", {}));
  b.push_back(
      stmt("SELECT schema, name, bytes, rows_estimate FROM uringmig_state.job_table "
           "WHERE job = $1 ORDER BY plan_order",
           pg::make_params(job_)));
  b.push_back(
      stmt("SELECT schema, name, chunk_no, kind, lower, upper, where_sql "
           "FROM uringmig_state.chunk WHERE job = $1 ORDER BY schema, name, chunk_no",
           pg::make_params(job_)));
  b.push_back(stmt("COMMIT", {}));
  const auto out = batch(std::move(b));
  const pg::result& tabs = out[1];
  const pg::result& chunks = out[2];
  std::map<std::pair<std::string_view, std::string_view>, std::vector<planned_chunk>> by_table;
  for (int i = 0; i < chunks.rows(); ++i) {
    planned_chunk c;
    c.chunk_no = std::stoi(std::string(chunks.value(i, 2)));
    c.kind = parse_chunk_kind(chunks.value(i, 3)).value_or(chunk_kind::whole);
    if (auto v = chunks.get(i, 4)) c.lower = std::string(*v);
    if (auto v = chunks.get(i, 5)) c.upper = std::string(*v);
    c.where_sql = std::string(chunks.value(i, 6));
    by_table[{chunks.value(i, 0), chunks.value(i, 1)}].push_back(std::move(c));
  }
  std::vector<planned_table> plan;
  for (int i = 0; i < tabs.rows(); ++i) {
    planned_table pt;
    pt.schema = std::string(tabs.value(i, 0));
    pt.name = std::string(tabs.value(i, 1));
    pt.bytes = std::stoll(std::string(tabs.value(i, 2)));
    pt.rows_estimate = std::stoll(std::string(tabs.value(i, 3)));
    if (auto it = by_table.find({tabs.value(i, 0), tabs.value(i, 1)}); it != by_table.end())
      pt.chunks = std::move(it->second);
    plan.push_back(std::move(pt));
  }
  return plan;
}

void pg_state::mark_chunk_done(std::string_view schema, std::string_view name, int chunk_no,
                               std::int64_t rows, std::int64_t bytes, double seconds) {
  // The table's totals move by this chunk's difference (a chunk done again counts once): a
  // recount would miss a concurrent worker's chunk under READ COMMITTED.
  const auto r = query(
      "WITH old AS (SELECT CASE WHEN status = 'done' THEN rows ELSE 0 END AS rows, "
      "CASE WHEN status = 'done' THEN bytes ELSE 0 END AS bytes FROM uringmig_state.chunk "
      "WHERE job = $1 AND schema = $2 AND name = $3 AND chunk_no = $4), "
      "upd AS (UPDATE uringmig_state.chunk SET status = 'done', rows = $5, bytes = $6, "
      "seconds = $7, attempts = attempts + 1, error = NULL, done_by = leased_by, "
      "done_run = leased_run, done_at = clock_timestamp(), leased_by = NULL, leased_run = NULL, "
      "lease_until = NULL WHERE job = $1 AND schema "
      "= $2 AND name = $3 AND "
      "chunk_no = $4 "
      "RETURNING 1) "
      "UPDATE uringmig_state.job_table t SET rows_copied = t.rows_copied + $5 - old.rows, "
      "bytes_copied = t.bytes_copied + $6 - old.bytes FROM old WHERE t.job = $1 AND "
      "t.schema = $2 AND t.name = $3 AND EXISTS (SELECT 1 FROM upd)",
      pg::make_params(job_, std::string(schema), std::string(name), num(std::int64_t{chunk_no}),
                      num(rows), num(bytes), num(seconds)));
  if (r.affected_rows() == 0)
    throw job_error("state database: chunk " + std::to_string(chunk_no) + " of " +
                    std::string(schema) + "." + std::string(name) + " is not in the saved plan");
}

void pg_state::mark_chunk_failed(std::string_view schema, std::string_view name, int chunk_no,
                                 int attempts, std::string_view error) {
  query(
      "UPDATE uringmig_state.chunk SET status = 'failed', attempts = $5, error = $6 "
      "WHERE job = $1 AND schema = $2 AND name = $3 AND chunk_no = $4",
      pg::make_params(job_, std::string(schema), std::string(name), num(std::int64_t{chunk_no}),
                      num(std::int64_t{attempts}), codecs::redact(error)));
}

std::set<int> pg_state::done_chunks(std::string_view schema, std::string_view name) const {
  const auto r = query(
      "SELECT chunk_no FROM uringmig_state.chunk WHERE job = $1 AND schema = $2 AND name = $3 "
      "AND status = 'done'",
      pg::make_params(job_, std::string(schema), std::string(name)));
  std::set<int> out;
  for (int i = 0; i < r.rows(); ++i)
    out.insert(std::stoi(std::string(r.value(i, 0))));
  return out;
}

void pg_state::set_table_status(std::string_view schema, std::string_view name, table_status status,
                                std::string_view error) {
  std::optional<std::string> err;
  if (status == table_status::failed) err = codecs::redact(error);
  query(
      "UPDATE uringmig_state.job_table SET status = $4, error = $5 "
      "WHERE job = $1 AND schema = $2 AND name = $3",
      pg::make_params(job_, std::string(schema), std::string(name), std::string(to_string(status)),
                      err));
}

std::optional<table_status> pg_state::get_table_status(std::string_view schema,
                                                       std::string_view name) const {
  const auto r = query(
      "SELECT status FROM uringmig_state.job_table WHERE job = $1 AND schema = $2 AND name = $3",
      pg::make_params(job_, std::string(schema), std::string(name)));
  if (r.rows() == 0) return std::nullopt;
  for (int i = 0; i <= static_cast<int>(table_status::failed); ++i)
    if (to_string(static_cast<table_status>(i)) == r.value(0, 0))
      return static_cast<table_status>(i);
  return std::nullopt;
}

void pg_state::set_copy_seconds(std::string_view schema, std::string_view name, double seconds) {
  query(
      "UPDATE uringmig_state.job_table SET copy_seconds = $4 "
      "WHERE job = $1 AND schema = $2 AND name = $3",
      pg::make_params(job_, std::string(schema), std::string(name), num(seconds)));
}

void pg_state::set_index_seconds(std::string_view schema, std::string_view name, double seconds) {
  query(
      "UPDATE uringmig_state.job_table SET index_seconds = $4 "
      "WHERE job = $1 AND schema = $2 AND name = $3",
      pg::make_params(job_, std::string(schema), std::string(name), num(seconds)));
}

void pg_state::add_index(std::string_view schema, std::string_view table, std::string_view index,
                         index_kind kind) {
  query(
      "INSERT INTO uringmig_state.job_index (job, schema, table_name, index_name, kind) "
      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
      pg::make_params(job_, std::string(schema), std::string(table), std::string(index),
                      std::string(to_string(kind))));
}

void pg_state::mark_index_done(std::string_view schema, std::string_view table,
                               std::string_view index, double seconds) {
  query(
      "UPDATE uringmig_state.job_index SET status = 'done', seconds = $5, error = NULL "
      "WHERE job = $1 AND schema = $2 AND table_name = $3 AND index_name = $4",
      pg::make_params(job_, std::string(schema), std::string(table), std::string(index),
                      num(seconds)));
}

void pg_state::mark_index_failed(std::string_view schema, std::string_view table,
                                 std::string_view index, std::string_view error) {
  query(
      "UPDATE uringmig_state.job_index SET status = 'failed', error = $5 "
      "WHERE job = $1 AND schema = $2 AND table_name = $3 AND index_name = $4",
      pg::make_params(job_, std::string(schema), std::string(table), std::string(index),
                      codecs::redact(error)));
}

std::set<std::string> pg_state::done_indexes(std::string_view schema,
                                             std::string_view table) const {
  const auto r = query(
      "SELECT index_name FROM uringmig_state.job_index WHERE job = $1 AND schema = $2 "
      "AND table_name = $3 AND status = 'done'",
      pg::make_params(job_, std::string(schema), std::string(table)));
  std::set<std::string> out;
  for (int i = 0; i < r.rows(); ++i)
    out.emplace(r.value(i, 0));
  return out;
}

std::optional<std::string> pg_state::get(std::string_view key) const {
  const auto r = query("SELECT value FROM uringmig_state.kv WHERE job = $1 AND key = $2",
                       pg::make_params(job_, std::string(key)));
  if (r.rows() == 0) return std::nullopt;
  return std::string(r.value(0, 0));
}

void pg_state::put_many(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<pg::statement> b;
  for (const auto& [key, value] : entries)
    b.push_back(
        stmt("INSERT INTO uringmig_state.kv (job, key, value) VALUES ($1, $2, $3) "
             "ON CONFLICT (job, key) DO UPDATE SET value = excluded.value",
             pg::make_params(job_, key, value)));
  batch(std::move(b));
}

void pg_state::erase(std::string_view key) {
  query("DELETE FROM uringmig_state.kv WHERE job = $1 AND key = $2",
        pg::make_params(job_, std::string(key)));
}

bool pg_state::compare_and_put(std::string_view key, std::string_view expected,
                               std::string_view value) {
  return query(
             "UPDATE uringmig_state.kv SET value = $4 WHERE job = $1 AND key = $2 "
             "AND value = $3",
             pg::make_params(job_, std::string(key), std::string(expected), std::string(value)))
             .affected_rows() == 1;
}

}  // namespace uringmig::engine::detail
