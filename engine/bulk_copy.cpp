// The bulk clone's workers: chunk copies (source snapshot -> target
// transaction with its done mark) and index builds.
#include "codecs/sql_text.hpp"
#include "engine/bulk_internal.hpp"
#include "engine/planner.hpp"
#include "engine/table_copy.hpp"
#include "io/sleep.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/use_awaitable.hpp>

namespace uringmig::engine::bulk {

namespace asio = boost::asio;

double job::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

namespace {

// A table copied in text: the source prints values in forms every server reads back the same
// (what pg_dump sets); not local to the transaction: a ROLLBACK of the snapshot's transaction
// undoes it, so every text chunk sets it again.
constexpr const char* text_copy_settings =
    "select pg_catalog.set_config('DateStyle', 'ISO', false), "
    "pg_catalog.set_config('IntervalStyle', 'postgres', false), "
    "pg_catalog.set_config('extra_float_digits', '3', false)";

/// Source sessions read inside the job's exported snapshot.
asio::awaitable<void> enter_snapshot(pg::connection& src, const std::string& snapshot) {
  std::vector<pg::statement> b;
  b.push_back({"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}, false});
  if (!snapshot.empty())
    b.push_back({"SET TRANSACTION SNAPSHOT " + codecs::quote_literal(snapshot), {}, false});
  auto rs = co_await src.pipeline(std::move(b));
  for (auto& r : rs) {
    if (!r.ok() && !r.aborted()) {
      if (r.error().sqlstate == "22023")
        throw job_error("the source snapshot " + snapshot +
                        " is gone (its exporting session ended); run the same command again to "
                        "resume with a fresh snapshot");
      r.check("entering the source snapshot");
    }
  }
}

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
  } else {
    (void)co_await src.query("ROLLBACK");
  }
  co_await enter_snapshot(src, j.snapshot);
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

/// The snapshot's session holds ACCESS SHARE on the table already; this session takes its own
/// without waiting: an ALTER TABLE or TRUNCATE queued behind the snapshot's lock would make a
/// waiting COPY wait for the end of the run, that is forever.
asio::awaitable<void> lock_for_read(pg::connection& src, const table_info& t) {
  pg::result r =
      co_await src.query("LOCK TABLE ONLY " + t.qualified() + " IN ACCESS SHARE MODE NOWAIT");
  if (!r.ok() && r.error().sqlstate == "55P03")
    throw job_error(t.display() +
                    ": another session waits on the source for a lock that conflicts with "
                    "reading it (ALTER TABLE, TRUNCATE, ...); it waits for this run to end; run "
                    "the same command again afterwards to copy the table as it is then");
  r.check("locking " + t.display() + " on the source");
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
                                       const chunk_ref& ref) {
  const table_info& t = ref.table->info;
  const planned_chunk& c = *ref.chunk;
  // A table copied in one chunk: TRUNCATE + COPY FREEZE in one transaction.
  const bool whole = ref.table->plan.chunks.size() == 1;
  std::string cols;
  for (const auto& col : t.columns)
    cols += (cols.empty() ? "" : ", ") + col;
  // A whole, unfiltered table: COPY straight from the table, which scans the
  // heap without going through the executor; otherwise COPY (SELECT ...).
  const std::string format = ref.table->text_copy ? "text" : "binary";
  const std::string out_sql =
      c.where_sql.empty()
          ? "COPY " + t.qualified() + " (" + cols + ") TO STDOUT (FORMAT " + format + ")"
          : "COPY (" + chunk_select(t, c) + ") TO STDOUT (FORMAT " + format + ")";
  const std::string in_sql = "COPY " + t.qualified() + " (" + cols + ") FROM STDIN (FORMAT " +
                             format + (whole ? ", FREEZE)" : ")");
  if (ref.table->text_copy) co_await exec_on(src, text_copy_settings);
  co_await io::run_on(src.executor(), lock_for_read(src, t));
  co_await exec_on(dst, "BEGIN");
  if (whole) co_await exec_on(dst, "TRUNCATE ONLY " + t.qualified());
  table_progress* tp = ref.table->progress;
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
  // The done mark commits with the rows: a crash leaves both or neither.
  co_await exec_on(dst, fmt::format("INSERT INTO uringmig.chunk_done (schema_name, table_name, "
                                    "chunk_no, rows) VALUES ({}, {}, {}, {})",
                                    codecs::quote_literal(t.schema), codecs::quote_literal(t.name),
                                    c.chunk_no, s.rows));
  co_await commit_on(dst);
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
}

std::optional<chunk_ref> next_chunk(job& j) {
  std::lock_guard lk(j.m);
  while (!j.chunks.empty()) {
    chunk_ref c = j.chunks.front();
    j.chunks.pop_front();
    if (!c.table->failed) {
      if (c.table->copy_started < 0) c.table->copy_started = j.elapsed();
      ++j.chunks_in_flight;
      return c;
    }
  }
  return std::nullopt;
}

}  // namespace

asio::awaitable<pg::connection> open_source(job& j, asio::any_io_executor ex) {
  auto c = co_await connect_endpoint(ex, j.source, "source", j.app_name);
  co_await enter_snapshot(c, j.snapshot);
  co_return c;
}

asio::awaitable<pg::connection> open_target(job& j, asio::any_io_executor ex) {
  auto c = co_await connect_endpoint(ex, j.target, "target", j.app_name);
  co_await configure_target(c);
  co_return c;
}

void wake_index_workers(job& j) {
  while (!j.index_waiters.empty()) {
    io::detail::wake(std::move(j.index_waiters.front()));
    j.index_waiters.pop_front();
  }
}

void table_data_done(job& j, table_work& t) {
  t.copy_seconds = j.elapsed() - std::max(0.0, t.copy_started);
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

asio::awaitable<void> copy_worker(job& j, std::size_t index) {
  std::exception_ptr failure;
  try {
    const std::size_t n = j.rt.size();
    // Both ends of a worker on one context: the buffers handed from source to
    // target never cross threads (perf: cross-thread wake-ups cost more than
    // the copying itself), and the workers spread over the contexts.
    auto sex = j.rt.executor(index % n);
    auto dex = sex;
    auto src = co_await io::run_on(sex, open_source(j, sex));
    auto dst = co_await io::run_on(dex, open_target(j, dex));
    const auto stop = j.rt.stop_token();
    while (!stop.stop_requested()) {
      auto ref = next_chunk(j);
      if (!ref) break;
      table_work& t = *ref->table;
      {
        // Under j.m: a table another worker has just failed stays failed.
        std::lock_guard lk(j.m);
        if (!t.failed) {
          j.state.set_table_status(t.info.schema, t.info.name, table_status::copying);
          t.progress->set_phase(table_phase::copying);
        }
      }
      j.prog.chunk_started();
      spdlog::debug("{} chunk {}: copying", t.info.display(), ref->chunk->chunk_no);
      for (int attempt = 1;; ++attempt) {
        std::string error;
        bool retryable = false;
        try {
          copy_stats s = co_await copy_chunk(j, src, dst, *ref);
          j.state.mark_chunk_done(t.info.schema, t.info.name, ref->chunk->chunk_no, s.rows, s.bytes,
                                  s.seconds);
          t.progress->add(s.rows, 0);
          t.progress->chunk_done();
          t.rows += s.rows;
          t.bytes += s.bytes;
          spdlog::debug("{} chunk {}: {} rows in {:.2f}s", t.info.display(), ref->chunk->chunk_no,
                        s.rows, s.seconds);
          std::lock_guard lk(j.m);
          --j.chunks_in_flight;
          if (--t.chunks_left == 0 && !t.failed) table_data_done(j, t);
          break;
        } catch (const pg::error& e) {
          error = e.diag().to_string();
          retryable = e.retryable();
        } catch (const job_error& e) {
          error = e.what();
        }
        j.state.mark_chunk_failed(t.info.schema, t.info.name, ref->chunk->chunk_no, attempt, error);
        if (!retryable || attempt >= j.retries) {
          fail_table(j, t, fmt::format("chunk {}: {}", ref->chunk->chunk_no, error));
          {
            std::lock_guard lk(j.m);
            --j.chunks_in_flight;
            --t.chunks_left;
          }
          // The failed chunk left both sessions inside an aborted transaction: without a reset
          // every later chunk of this worker would fail too (25P02).
          co_await recover_sessions(j, src, dst, t);
          break;
        }
        const auto backoff = std::chrono::milliseconds(500) * (1 << std::min(attempt - 1, 6));
        spdlog::warn("{} chunk {}: {} (attempt {}/{}, retrying in {} ms)", t.info.display(),
                     ref->chunk->chunk_no, error, attempt, j.retries, backoff.count());
        const bool waited = co_await io::sleep_unless_stopped(backoff, stop);
        if (!waited) {
          // Stopping: the chunk rolled back and stays to do (not failed); the next run copies it.
          spdlog::info("{} chunk {}: not retried: stopping", t.info.display(),
                       ref->chunk->chunk_no);
          std::lock_guard lk(j.m);
          --j.chunks_in_flight;
          break;
        }
        co_await recover_sessions(j, src, dst, t);
      }
      j.prog.chunk_finished();
    }
    co_await io::run_on(sex, src.close());
    co_await io::run_on(dex, dst.close());
  } catch (...) {
    failure = std::current_exception();
  }
  {
    std::lock_guard lk(j.m);
    if (--j.copy_workers_running == 0) wake_index_workers(j);
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
      if (j.copy_workers_running == 0) co_return std::nullopt;
    }
    co_await io::detail::park([&j](io::detail::wake_handler& h) {
      std::lock_guard lk(j.m);
      if (!j.index_queue.empty() || j.copy_workers_running == 0) return false;
      j.index_waiters.push_back(std::move(h));
      return true;
    });
  }
}

asio::awaitable<void> finish_table(job& j, pg::connection& dst, table_work& t) {
  const double t0 = j.elapsed();
  for (const auto& ix : t.indexes) {
    if (ix.constraint_sql.empty()) continue;
    pg::result exists = co_await dst.query(
        "select 1 from pg_constraint where conname = $1 and conrelid = $2::regclass",
        pg::make_params(ix.constraint_name, t.info.qualified()));
    exists.check("checking constraint " + ix.constraint_name);
    if (exists.rows() == 0) (co_await dst.query(ix.constraint_sql)).check(ix.constraint_sql);
  }
  for (const auto& ix : t.indexes)
    for (const auto& sql : ix.after_sql)
      (co_await dst.query(sql)).check(sql);
  spdlog::debug("ANALYZE {}: starting", t.info.display());
  (co_await dst.query("ANALYZE " + t.info.qualified())).check("ANALYZE " + t.info.display());
  spdlog::debug("ANALYZE {}: done", t.info.display());
  t.index_seconds += j.elapsed() - t0;
  j.state.set_index_seconds(t.info.schema, t.info.name, t.index_seconds);
  bool failed;
  {
    std::lock_guard lk(j.m);
    failed = t.failed;
  }
  if (!failed) {
    j.state.set_table_status(t.info.schema, t.info.name, table_status::done);
    t.progress->set_phase(table_phase::done);
  }
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
      const bool copying = !j.chunks.empty() || j.chunks_in_flight > 0;
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
      j.state.mark_index_done(t.info.schema, t.info.name, ix.name, j.elapsed() - t0);
    } else {
      j.state.mark_index_failed(t.info.schema, t.info.name, ix.name, r.error().to_string());
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
