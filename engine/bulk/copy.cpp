// The bulk clone's workers: chunk copies (source snapshot -> target
// transaction with its done mark) and index builds.
#include "codecs/sql_text.hpp"
#include "engine/bulk/internal.hpp"
#include "engine/bulk/table_copy.hpp"
#include "engine/core/planner.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdlib>

namespace uringmig::engine::bulk {

namespace asio = boost::asio;

double job::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

namespace {

/// A table copied whole from this size on (pg_table_size on the source) is emptied and loaded with
/// COPY FREEZE in one transaction.
constexpr std::int64_t freeze_min_bytes = 1 << 20;

asio::awaitable<void> configure_target(pg::connection& c) {
  (co_await c.query("SET synchronous_commit = off")).check("configuring the target session");
  // Triggers and FK checks must not fire while data loads (needs superuser).
  pg::result r = co_await c.query("SET session_replication_role = replica");
  if (!r.ok()) spdlog::warn("target: session_replication_role not set: {}", r.error().message);
}

/// Back to a clean state after a failure: reconnect what broke, restart the
/// source's snapshot transaction.
asio::awaitable<void> recover_source(job& j, pg::connection& src) {
  if (!src.is_open()) {
    co_await src.reconnect();
    co_await apply_settings(src, text_profile::postgres, "setting up a source session");
  } else {
    (void)co_await src.query("ROLLBACK");
  }
  co_await join_snapshot(src, j.current_snapshot());
}

asio::awaitable<void> recover_target(pg::connection& dst) {
  if (!dst.is_open()) {
    co_await dst.reconnect();
    co_await configure_target(dst);
  } else {
    (void)co_await dst.query("ROLLBACK");
  }
}

/// A chunk that read no row: fine for an empty table, an error for one truncated or rewritten
/// (TRUNCATE, ALTER TABLE ... TYPE, VACUUM FULL) after the snapshot, whose rows the snapshot
/// cannot see in the table's new file. Runs in the chunk's source session (in the snapshot).
asio::awaitable<void> check_not_rewritten(pg::connection& src, const table_info& t) {
  // pg_class as the snapshot saw it, against the file the table uses now.
  pg::result r = co_await src.query(
      "select relfilenode = pg_relation_filenode(oid) from pg_class where oid = $1::oid",
      pg::make_params(std::to_string(t.oid)));
  r.check("checking " + t.display() + " on the source");
  if (r.rows() == 0 || r.value(0, 0) != "t")
    throw job_error(t.display() +
                    " was truncated or rewritten on the source after the snapshot was taken "
                    "(TRUNCATE, ALTER TABLE ... TYPE, VACUUM FULL): the snapshot sees none of its "
                    "rows; run the same command again to copy it under a fresh snapshot");
}

/// A chunk's first round trip, both sessions at once. The source: the table's lock (the text
/// profile is the session's, set when it opened). The snapshot's session holds ACCESS SHARE on the
/// table already; this session takes its own without waiting: an ALTER TABLE or TRUNCATE queued
/// behind the snapshot's lock would make a waiting COPY wait for the end of the run, that is
/// forever. The target: the chunk's transaction, and with `freeze` the table's TRUNCATE (for COPY
/// FREEZE).
asio::awaitable<void> start_chunk(pg::connection& src, pg::connection& dst, const table_work& w,
                                  bool freeze) {
  const table_info& t = w.info;
  std::vector<pg::statement> s;
  s.push_back({"LOCK TABLE ONLY " + t.qualified() + " IN ACCESS SHARE MODE NOWAIT", {}, false});
  std::vector<pg::statement> d;
  d.push_back({"BEGIN", {}, false});
  if (freeze) d.push_back({"TRUNCATE ONLY " + t.qualified(), {}, false});
  using namespace asio::experimental::awaitable_operators;
  // Neither side throws (errors are results): both always finish.
  auto [rs, rd] = co_await (io::run_on(src.executor(), src.pipeline(std::move(s))) &&
                            io::run_on(dst.executor(), dst.pipeline(std::move(d))));
  const pg::result& lock = rs.back();
  if (!lock.ok() && lock.error().sqlstate == "55P03")
    throw job_error(t.display() +
                    ": another session waits on the source for a lock that conflicts with "
                    "reading it (ALTER TABLE, TRUNCATE, ...); it waits for this run to end; run "
                    "the same command again afterwards to copy the table as it is then");
  for (const auto& r : rs)
    r.check("locking " + t.display() + " on the source");
  rd.at(0).check("BEGIN");
  if (freeze) rd.at(1).check("TRUNCATE ONLY " + t.qualified());
}

/// A table without columns holds rows all the same (COPY cannot name zero columns): the chunk's
/// row count, read on the source, becomes as many rows on the target. In dst's open transaction.
asio::awaitable<copy_stats> copy_row_count(pg::connection& src, pg::connection& dst,
                                           const table_info& t, const planned_chunk& c) {
  const auto t0 = std::chrono::steady_clock::now();
  auto count = [&]() -> asio::awaitable<std::int64_t> {
    pg::result r = co_await src.query("select count(*) from (" + chunk_select(t, c) + ") s");
    r.check("counting the rows of " + t.display());
    co_return std::stoll(std::string(r.value(0, 0)));
  };
  copy_stats s;
  s.rows = co_await io::run_on(src.executor(), count());
  if (s.rows > 0)
    co_await exec_on(dst,
                     fmt::format("INSERT INTO {} SELECT FROM pg_catalog.generate_series(1, {})",
                                 t.qualified(), s.rows));
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  co_return s;
}

/// Both sessions of a copy worker back to a clean state after a failed chunk (retried or not).
asio::awaitable<void> recover_sessions(job& j, pg::connection& src, pg::connection& dst,
                                       const table_work& t) {
  try {
    co_await io::run_on(dst.executor(), recover_target(dst));
    co_await io::run_on(src.executor(), recover_source(j, src));
  } catch (const pg::error& e) {
    spdlog::warn("{}: reconnecting failed: {}", t.info.display(), e.diag().to_string());
  }
}

asio::awaitable<copy_stats> copy_chunk(job& j, pg::connection& src, pg::connection& dst,
                                       table_work& w, const planned_chunk& c) {
  const table_info& t = w.info;
  // A table copied in one chunk: TRUNCATE + COPY FREEZE in one transaction.
  // Not for a small table: its TRUNCATE (new files for the table, its TOAST table and index,
  // the old ones removed at commit) costs the target more than its rows (2 ms a table: 20 s
  // of 10 000 small tables), and its few pages are frozen by a VACUUM in no time.
  const bool freeze = w.plan.chunks.size() == 1 && t.bytes >= freeze_min_bytes;
  std::string cols;
  for (const auto& col : t.columns)
    cols += (cols.empty() ? "" : ", ") + col;
  // A whole, unfiltered table: COPY straight from the table, which scans the
  // heap without going through the executor; otherwise COPY (SELECT ...).
  const std::string format = w.text_copy ? "text" : "binary";
  const std::string out_sql =
      c.where_sql.empty()
          ? "COPY " + t.qualified() + " (" + cols + ") TO STDOUT (FORMAT " + format + ")"
          : "COPY (" + chunk_select(t, c) + ") TO STDOUT (FORMAT " + format + ")";
  const std::string in_sql = "COPY " + t.qualified() + " (" + cols + ") FROM STDIN (FORMAT " +
                             format + (freeze ? ", FREEZE)" : ")");
  co_await start_chunk(src, dst, w, freeze);
  table_progress* tp = w.progress;
  std::int64_t counted = 0;  // given back to the progress if this attempt fails
  copy_stats s;
  try {
    if (t.columns.empty()) {
      s = co_await copy_row_count(src, dst, t, c);
    } else {
      s = co_await stream_copy(src, dst, out_sql, in_sql, j.pool, 8 * j.pool.slab_size(),
                               [tp, &counted](std::size_t n) {
                                 counted += static_cast<std::int64_t>(n);
                                 tp->add(0, static_cast<std::int64_t>(n));
                               });
    }
  } catch (...) {
    tp->add(0, -counted);
    throw;
  }
  if (s.rows == 0) co_await io::run_on(src.executor(), check_not_rewritten(src, t));
  if (j.opts.config.bulk.exit_mid_chunk > 0 &&
      j.chunks_loaded.fetch_add(1) + 1 == j.opts.config.bulk.exit_mid_chunk) {
    // Tests: a worker that dies holding a lease, its chunk's rows sent but not committed.
    spdlog::critical("copy.debug.exit_mid_chunk reached: exiting as if killed");
    std::_Exit(137);
  }
  // The done mark commits with the rows (one round trip): a crash leaves both or neither.
  co_await commit_on(dst, fmt::format("INSERT INTO uringmig.chunk_done (schema_name, table_name, "
                                      "chunk_no, rows) VALUES ({}, {}, {}, {})",
                                      codecs::quote_literal(t.schema),
                                      codecs::quote_literal(t.name), c.chunk_no, s.rows));
  co_return s;
}

void fail_table(job& j, table_work& t, const std::string& why) {
  {
    std::lock_guard lk(j.m);
    if (t.failed) return;
    t.failed = true;
    t.error = why;
  }
  spdlog::error("table {} failed: {}", t.info.display(), why);
  t.progress->set_phase(table_phase::failed);
  j.state.set_table_status(t.info.schema, t.info.name, table_status::failed, why);
  release_finish(j, t);
}

/// A copy worker's two sessions, on one context.
class copy_worker final : public chunk_worker {
 public:
  copy_worker(job& j, pg::connection src, pg::connection dst)
      : j_(j), src_(std::move(src)), dst_(std::move(dst)) {}

  asio::awaitable<chunk_attempt> load(const chunk_table& ct, const planned_chunk& c) override {
    table_work& t = *j_.tables[ct.id];
    spdlog::debug("{} chunk {}: copying", t.info.display(), c.chunk_no);
    chunk_attempt a;
    bool done_elsewhere = false;
    try {
      const copy_stats s = co_await copy_chunk(j_, src_, dst_, t, c);
      a.ok = true;
      a.rows = s.rows;
      a.bytes = s.bytes;  // counted in the progress as they streamed
      a.seconds = s.seconds;
    } catch (const pg::error& e) {
      a.error = e.diag().to_string();
      a.retryable = e.retryable();
      // Workers: another worker committed this chunk (its lease ran out on this one, or it died
      // between its commit and its mark in the state): its rows stand, this attempt rolled back.
      done_elsewhere = j_.leased && e.diag().sqlstate == "23505";
    } catch (const job_error& e) {
      a.error = e.what();
    }
    if (done_elsewhere) co_return co_await done_by_another(t, c);
    co_return a;
  }

  /// The rows another worker's commit of `c` recorded on the target.
  asio::awaitable<chunk_attempt> done_by_another(table_work& t, const planned_chunk& c) {
    chunk_attempt a;
    co_await recover_sessions(j_, src_, dst_, t);
    pg::result r = co_await io::run_on(
        dst_.executor(),
        dst_.query("select rows from uringmig.chunk_done where schema_name = $1 and table_name = "
                   "$2 and chunk_no = $3",
                   pg::make_params(t.info.schema, t.info.name, std::to_string(c.chunk_no))));
    r.check("reading the done mark of " + t.info.display());
    spdlog::info("{} chunk {}: committed by another worker already", t.info.display(), c.chunk_no);
    a.ok = true;
    a.rows = r.rows() > 0 ? std::stoll(std::string(r.value(0, 0))) : 0;
    co_return a;
  }

  asio::awaitable<void> recover(const chunk_table& ct) override {
    co_await recover_sessions(j_, src_, dst_, *j_.tables[ct.id]);
  }

  asio::awaitable<void> close() override {
    co_await io::run_on(src_.executor(), src_.close());
    co_await io::run_on(dst_.executor(), dst_.close());
  }

 private:
  job& j_;
  pg::connection src_;
  pg::connection dst_;
};

class copy_path final : public chunk_path {
 public:
  copy_path(job& j, asio::any_io_executor ex) : j_(j), ex_(std::move(ex)) {}

  // The workers' loops run on the job's context; their sessions on theirs.
  asio::any_io_executor executor(std::size_t) override { return ex_; }

  asio::awaitable<std::unique_ptr<chunk_worker>> open_worker(std::size_t index) override {
    // Both ends of a worker on one context: the buffers handed from source to target never
    // cross threads (perf: cross-thread wake-ups cost more than the copying itself), and the
    // workers spread over the contexts.
    auto ex = j_.rt.executor(index % j_.rt.size());
    auto src = co_await io::run_on(ex, open_source(j_, ex));
    auto dst = co_await io::run_on(ex, open_target(j_, ex));
    co_return std::make_unique<copy_worker>(j_, std::move(src), std::move(dst));
  }

  void chunk_done(const chunk_table& ct, const planned_chunk& c, const chunk_attempt& a) override {
    table_work& t = *j_.tables[ct.id];
    t.rows += a.rows;
    t.bytes += a.bytes;
    spdlog::debug("{} chunk {}: {} rows in {:.2f}s", t.info.display(), c.chunk_no, a.rows,
                  a.seconds);
  }

  void table_finished(const chunk_table& ct, double copy_seconds) override {
    table_work& t = *j_.tables[ct.id];
    // Workers: the one that takes the table's finish lock; the others' tails take over a dead one.
    if (!claim_finish(j_, t)) return;
    std::lock_guard lk(j_.m);
    if (!t.failed) table_data_done(j_, t, copy_seconds);
  }

  void table_failed(const chunk_table& ct, const std::string& why) override {
    std::lock_guard lk(j_.m);
    table_work& t = *j_.tables[ct.id];
    t.failed = true;
    t.error = why;
  }

 private:
  job& j_;
  asio::any_io_executor ex_;
};

}  // namespace

asio::awaitable<pg::connection> open_source(job& j, asio::any_io_executor ex) {
  auto c = co_await connect_endpoint(ex, j.source, "source", j.app_name);
  // Session-level, before the snapshot's transaction: a ROLLBACK after a failed chunk keeps
  // them. Binary COPY ignores them; a table copied in text needs them.
  co_await apply_settings(c, text_profile::postgres, "setting up a source session");
  co_await join_snapshot(c, j.current_snapshot());
  co_return c;
}

asio::awaitable<pg::connection> open_target(job& j, asio::any_io_executor ex) {
  auto c = co_await connect_endpoint(ex, j.target, "target", j.app_name);
  co_await configure_target(c);
  co_return c;
}

void wake_index_workers(job& j) {
  while (!j.index_waiters.empty()) {
    io::wake(std::move(j.index_waiters.front()));
    j.index_waiters.pop_front();
  }
}

void table_data_done(job& j, table_work& t, double copy_seconds) {
  t.copy_seconds = copy_seconds;
  j.state.set_copy_seconds(t.info.schema, t.info.name, t.copy_seconds);
  t.indexes_left = static_cast<int>(t.indexes.size());
  if (t.indexes.empty()) {
    j.index_queue.push_back({&t, nullptr});
  } else {
    for (const auto& ix : t.indexes)
      j.index_queue.push_back({&t, &ix});
  }
  wake_index_workers(j);
}

asio::awaitable<void> copy_data(job& j, std::size_t jobs) {
  copy_path path(j, co_await asio::this_coro::executor);
  std::vector<chunk_table> tables;
  for (std::size_t i = 0; i < j.tables.size(); ++i) {
    table_work& w = *j.tables[i];
    // Workers: the state decides what is left; every table can come back in a claim.
    if (w.chunks_left == 0 && !j.leased) continue;
    chunk_table t;
    t.id = i;
    t.schema = w.info.schema;
    t.name = w.info.name;
    t.display = w.info.display();
    t.bytes = w.plan.bytes;
    for (const auto& c : w.plan.chunks)
      t.chunks.push_back(&c);
    t.done = w.done_chunks;
    t.progress = w.progress;
    tables.push_back(std::move(t));
  }
  chunk_runner_options o;
  o.workers = jobs;
  o.attempts = j.retries;
  o.stop = j.rt.stop_token();
  if (j.leased) {
    chunk_leases l;
    l.worker = j.worker;
    l.lease = std::chrono::seconds(j.opts.config.bulk.lease_s);
    l.heartbeat = [&j] { j.coord.watch(); };
    o.leases = std::move(l);
  }
  chunk_runner runner(path, j.state, j.prog, std::move(tables), std::move(o));
  {
    std::lock_guard lk(j.m);
    j.runner = &runner;
  }
  std::exception_ptr failure;
  try {
    co_await runner.run();
    if (j.leased) co_await finish_others(j);
  } catch (...) {
    failure = std::current_exception();
  }
  {
    std::lock_guard lk(j.m);
    j.runner = nullptr;
    j.data_copying = false;
    wake_index_workers(j);
  }
  if (failure) std::rethrow_exception(failure);
}

namespace {

/// How much work an index queue entry stands for: the index's size on the
/// source, or for a table without indexes (its ANALYZE) the pages ANALYZE reads
/// at most (300 x the default statistics target of 100).
std::int64_t work_bytes(const index_ref& r) {
  return r.index ? r.index->bytes : std::min<std::int64_t>(r.table->info.bytes, 30000 * 8192);
}

asio::awaitable<std::optional<index_ref>> next_index(job& j) {
  for (;;) {
    {
      std::lock_guard lk(j.m);
      if (!j.index_queue.empty()) {
        // Longest first: the build that ends last bounds the run, so the
        // biggest one starts as soon as its data is in, ahead of smaller ones.
        auto best = j.index_queue.begin();
        for (auto it = best; it != j.index_queue.end(); ++it)
          if (work_bytes(*it) > work_bytes(*best)) best = it;
        index_ref r = *best;
        j.index_queue.erase(best);
        co_return r;
      }
      if (!j.data_copying) co_return std::nullopt;
    }
    co_await io::park([&j](io::wake_handler& h) {
      std::lock_guard lk(j.m);
      if (!j.index_queue.empty() || !j.data_copying) return false;
      j.index_waiters.push_back(std::move(h));
      return true;
    });
  }
}

/// The constraints that already stand on the target table (a resumed run may have added them).
asio::awaitable<std::set<std::string>> target_constraints(pg::connection& dst,
                                                          const table_work& t) {
  std::set<std::string> out;
  bool any = false;
  for (const auto& ix : t.indexes)
    any = any || !ix.constraint_sql.empty();
  if (!any) co_return out;
  pg::result r =
      co_await dst.query("select conname from pg_constraint where conrelid = $1::regclass",
                         pg::make_params(t.info.qualified()));
  r.check("checking the constraints of " + t.info.display());
  for (int i = 0; i < r.rows(); ++i)
    out.emplace(r.value(i, 0));
  co_return out;
}

/// After a table's indexes: its constraints USING INDEX, what goes with the indexes, ANALYZE;
/// one pipeline (one round trip), one transaction.
asio::awaitable<void> finish_table(job& j, pg::connection& dst, table_work& t) {
  const double t0 = j.elapsed();
  const std::set<std::string> have = co_await target_constraints(dst, t);
  std::vector<pg::statement> b;
  for (const auto& ix : t.indexes)
    if (!ix.constraint_sql.empty() && !have.count(ix.constraint_name))
      b.push_back({ix.constraint_sql, {}, false});
  for (const auto& ix : t.indexes)
    for (const auto& sql : ix.after_sql)
      b.push_back({sql, {}, false});
  b.push_back({"ANALYZE " + t.info.qualified(), {}, false});
  spdlog::debug("ANALYZE {}: starting", t.info.display());
  auto rs = co_await dst.pipeline(b);
  for (std::size_t i = 0; i < rs.size(); ++i)
    if (!rs[i].aborted()) rs[i].check(b[i].sql);
  spdlog::debug("ANALYZE {}: done", t.info.display());
  t.index_seconds += j.elapsed() - t0;
  bool failed;
  {
    std::lock_guard lk(j.m);
    failed = t.failed;
  }
  co_await j.state.write_off_context([&] {
    j.state.set_index_seconds(t.info.schema, t.info.name, t.index_seconds);
    if (!failed) j.state.set_table_status(t.info.schema, t.info.name, table_status::done);
  });
  if (!failed) t.progress->set_phase(table_phase::done);
  release_finish(j, t);
  spdlog::info("table {} done: {} rows, copy {:.2f}s, indexes {:.2f}s", t.info.display(),
               t.rows.load(), t.copy_seconds, t.index_seconds);
}

}  // namespace

asio::awaitable<void> index_worker(job& j, std::size_t index) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection dst = co_await connect_endpoint(ex, j.target, "target", j.app_name);
  (co_await dst.query("SET synchronous_commit = off")).check("configuring the index session");
  if (const auto& mwm = j.opts.config.bulk.maintenance_work_mem) {
    (co_await dst.query("SET maintenance_work_mem = " + codecs::quote_literal(*mwm)))
        .check("index.maintenance_work_mem");
  } else {
    (void)co_await dst.query("SET maintenance_work_mem = '256MB'");
  }
  (void)index;
  bool parallel = true;  // the server's max_parallel_maintenance_workers
  for (;;) {
    auto item = co_await next_index(j);
    if (!item) break;
    table_work& t = *item->table;
    if (item->index == nullptr) {
      try {
        co_await finish_table(j, dst, t);
      } catch (const pg::error& e) {
        fail_table(j, t, e.diag().to_string());
      }
      continue;
    }
    const index_def& ix = *item->index;
    {
      // Under j.m: a table whose other index (or chunk) failed stays failed.
      std::lock_guard lk(j.m);
      if (!t.failed) {
        j.state.set_table_status(t.info.schema, t.info.name, table_status::indexing);
        t.progress->set_phase(table_phase::indexing);
      }
    }
    const double t0 = j.elapsed();
    // Parallel workers only for a build that runs alone (no chunk left to
    // copy, no other build): next to other work the server's cores are taken,
    // and a parallel build costs more CPU in all (its workers sort to tapes
    // the leader merges).
    bool alone;
    {
      std::lock_guard lk(j.m);
      const bool copying = j.runner && j.runner->busy();
      alone = !copying && j.builds_running == 0;
      ++j.builds_running;
    }
    if (alone != parallel) {
      (void)co_await dst.query(alone ? "RESET max_parallel_maintenance_workers"
                                     : "SET max_parallel_maintenance_workers = 0");
      parallel = alone;
    }
    spdlog::debug("index {} on {}: building{}", ix.name, t.info.display(),
                  alone ? " (parallel workers allowed)" : "");
    pg::result r = co_await dst.query(ix.create_sql);
    {
      std::lock_guard lk(j.m);
      --j.builds_running;
    }
    spdlog::debug("index {} on {}: built in {:.2f}s", ix.name, t.info.display(), j.elapsed() - t0);
    if (r.ok()) {
      const double seconds = j.elapsed() - t0;
      co_await j.state.write_off_context(
          [&] { j.state.mark_index_done(t.info.schema, t.info.name, ix.name, seconds); });
    } else {
      co_await j.state.write_off_context([&] {
        j.state.mark_index_failed(t.info.schema, t.info.name, ix.name, r.error().to_string());
      });
      fail_table(j, t, "index " + ix.name + ": " + r.error().to_string());
    }
    bool last;
    {
      std::lock_guard lk(j.m);
      t.index_seconds += j.elapsed() - t0;
      last = --t.indexes_left == 0;
    }
    if (last) {
      try {
        co_await finish_table(j, dst, t);
      } catch (const pg::error& e) {
        fail_table(j, t, e.diag().to_string());
      }
    }
  }
  co_await dst.close();
}

}  // namespace uringmig::engine::bulk
