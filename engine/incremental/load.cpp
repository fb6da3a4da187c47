#include "engine/incremental/load.hpp"

#include "codecs/json_text.hpp"
#include "codecs/sql_text.hpp"
#include "connectors/postgres/connection.hpp"
#include "connectors/postgres/error.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/incremental/job_path.hpp"
#include "engine/incremental/sql.hpp"
#include "io/channel.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace {

std::string quoted_list(const std::vector<std::string>& names, const std::string& prefix,
                        const std::string& suffix = {}) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += prefix + codecs::quote_ident(n) + suffix;
  }
  return out;
}

std::string target_type(const table_plan& p, const std::string& target_col) {
  if (const auto* c = p.tgt.column(target_col)) return c->type;
  for (const auto& s : p.src.columns)
    if (s.name == target_col) return s.pg_type;
  return "text";
}

/// The upsert from staging, split where the staging rows' condition goes (names may hold any
/// text, so no marker is searched for).
std::pair<std::string, std::string> upsert_sql(const table_plan& p, const std::string& stage,
                                               const std::vector<std::string>& cols) {
  const std::string insert =
      fmt::format("INSERT INTO {} AS t ({}) SELECT {} FROM {} s WHERE ", p.tgt.qualified(),
                  quoted_list(cols, ""), quoted_list(cols, "s."), codecs::quote_ident(stage));
  if (p.entry.mode == load_mode::full) return {insert, ""};
  std::vector<std::string> rest;
  for (const auto& c : cols)
    if (std::find(p.key.begin(), p.key.end(), c) == p.key.end()) rest.push_back(c);
  const std::string conflict = fmt::format(" ON CONFLICT ({})", quoted_list(p.key, ""));
  if (rest.empty()) return {insert, conflict + " DO NOTHING"};
  std::string set;
  std::string old_row;
  std::string new_row;
  for (const auto& c : rest) {
    const std::string q = codecs::quote_ident(c);
    const auto* tc = p.tgt.column(c);
    const std::string cast = tc != nullptr && tc->compare_text ? "::text" : "";
    if (!set.empty()) {
      set += ", ";
      old_row += ", ";
      new_row += ", ";
    }
    set += q + " = EXCLUDED." + q;
    old_row += "t." + q + cast;
    new_row += "EXCLUDED." + q + cast;
  }
  // Rows that did not change are not written again: no dead tuples, and rows_upserted counts
  // what changed.
  return {insert, conflict + fmt::format(" DO UPDATE SET {} WHERE ROW({}) IS DISTINCT FROM ROW({})",
                                         set, old_row, new_row)};
}

std::string range_sql(const std::string& column, const range_bound& r) {
  const std::string c = "t." + codecs::quote_ident(column);
  std::string out;
  if (r.lower) out = c + " >= " + codecs::quote_literal(*r.lower);
  if (r.upper) out += (out.empty() ? "" : " AND ") + c + " < " + codecs::quote_literal(*r.upper);
  if (out.empty()) return "true";
  if (r.nulls) out = "(" + out + ") OR " + c + " IS NULL";
  return out;
}

std::string with_cond(const std::pair<std::string, std::string>& sql, const std::string& cond) {
  return sql.first + cond + sql.second;
}

bool row_refused(const pg::diagnostics& d) {
  return d.sqlstate.size() == 5 &&
         (d.sqlstate.compare(0, 2, "23") == 0 || d.sqlstate.compare(0, 2, "22") == 0);
}

asio::awaitable<pg::result> run(pg::connection& c, const std::string& sql) {
  pg::result r = co_await c.query(sql);
  if (!r.ok()) throw pg::error(r.error());
  co_return r;
}

struct chunk_counts {
  std::int64_t read = 0;
  std::int64_t upserted = 0;
  std::int64_t deleted = 0;
  std::int64_t rejected = 0;
};

class load_worker final : public chunk_worker {
 public:
  explicit load_worker(load_job& j) : j_(j) {}

  asio::awaitable<void> open() {
    auto ex = co_await asio::this_coro::executor;
    src_ = co_await j_.src->open_session(ex);
    dst_.emplace(co_await connect_endpoint(ex, j_.target, "target", "uringmig incremental"));
    co_await apply_settings(*dst_, text_profile::portable, "setting up a target session");
  }

  asio::awaitable<chunk_attempt> load(const chunk_table& ct, const planned_chunk& pc) override {
    run_table& t = *j_.tables[ct.id];
    const window_chunk& wc = t.window.chunks.at(static_cast<std::size_t>(pc.chunk_no));
    const auto t0 = std::chrono::steady_clock::now();
    chunk_attempt a;
    std::string error;
    bool retryable = false;
    chunk_counts n;
    try {
      co_await ensure_stage(t, wc.kind == "reconcile");
      (void)co_await run(*dst_, "BEGIN");
      if (co_await done_on_target(t, wc)) {
        (void)co_await run(*dst_, "ROLLBACK");
        spdlog::info(
            "{} chunk {}: already done on the target (its worker committed it before "
            "it died); skipped",
            codecs::printable(t.plan.target_name), wc.chunk_no);
        a.ok = true;
        co_return a;
      }
      // Not a conditional expression: GCC 12 evaluates both co_awaits of one.
      if (wc.kind == "reconcile") {
        n = co_await reconcile(t, wc);
      } else {
        n = co_await rows(t, wc);
      }
      co_await finish(t, wc, n);
      a.ok = true;
      if (j_.exit_after_commit > 0 && j_.committed.fetch_add(1) + 1 == j_.exit_after_commit) {
        spdlog::critical("copy.debug.exit_mid_chunk reached: exiting as if killed");
        std::_Exit(137);
      }
    } catch (const pg::error& e) {
      error = e.diag().to_string();
      retryable = e.retryable();
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!a.ok) {
      a.error = fmt::format("{} chunk {}: {}", t.plan.target_name, pc.chunk_no, error);
      a.retryable = retryable;
      co_return a;
    }
    t.rows_read += n.read;
    t.rows_upserted += n.upserted;
    t.rows_deleted += n.deleted;
    t.rows_rejected += n.rejected;
    a.rows = n.read;
    a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    co_return a;
  }

  asio::awaitable<void> recover(const chunk_table&) override {
    if (dst_ && dst_->is_open()) {
      (void)co_await dst_->query("ROLLBACK");
    } else if (dst_) {
      co_await dst_->reconnect();
      co_await apply_settings(*dst_, text_profile::portable, "setting up a target session");
      staged_.clear();
    }
  }

  asio::awaitable<void> close() override {
    if (src_) co_await src_->close();
    if (dst_) co_await dst_->close();
  }

 private:
  asio::awaitable<void> ensure_stage(const run_table& t, bool keys) {
    const std::string& name = keys ? t.keys_stage : t.stage;
    if (staged_.count(name) != 0) co_return;
    (void)co_await run(*dst_, keys ? t.keys_ddl : t.stage_ddl);
    staged_.insert(name);
  }

  /// The source rows of `q` into `copy_sql` on the target: both sides at once, through a
  /// byte-bounded channel; a failed read aborts the COPY (nothing partial commits).
  asio::awaitable<std::int64_t> pipe(const row_query& q, const std::string& copy_sql) {
    io::channel<io::buffer> ch(8u << 20);
    std::exception_ptr read_error;
    auto reader = [&]() -> asio::awaitable<void> {
      try {
        (void)co_await src_->copy_rows(q, j_.pool,
                                       [&](io::buffer b) { return ch.send(std::move(b)); });
        ch.close();
      } catch (...) {
        read_error = std::current_exception();
        ch.cancel();
      }
    };
    auto writer = [&]() -> asio::awaitable<pg::result> {
      pg::result r = co_await dst_->copy_in(copy_sql, [&]() -> asio::awaitable<pg::copy_piece> {
        pg::copy_piece p;
        p.data = co_await ch.receive();
        if (!p.data && read_error) p.abort = "the source read failed";
        co_return p;
      });
      if (!r.ok()) ch.cancel();
      co_return r;
    };
    using namespace asio::experimental::awaitable_operators;
    pg::result in = co_await (reader() && writer());
    if (read_error) std::rethrow_exception(read_error);
    if (!in.ok()) throw pg::error(in.error());
    co_return in.affected_rows();
  }

  row_query chunk_query(const run_table& t, const window_chunk& wc) const {
    row_query q = t.plan.base_query();
    q.window = t.plan.entry.mode == load_mode::incremental && !t.plan.entry.watermark.empty();
    q.from = t.window.from;
    q.to = t.window.to;
    if (!t.plan.entry.chunk_by.empty()) q.range = wc.range;
    return q;
  }

  asio::awaitable<chunk_counts> rows(const run_table& t, const window_chunk& wc) {
    chunk_counts n;
    const row_query q = chunk_query(t, wc);
    const bool direct =
        t.plan.entry.mode == load_mode::full && t.plan.entry.on_error == error_mode::fail;
    if (direct) {
      n.read = co_await pipe(q, t.copy_direct_sql);
      n.upserted = n.read;
      co_return n;
    }
    n.read = co_await pipe(q, t.copy_stage_sql);
    if (t.plan.entry.on_error == error_mode::fail) {
      n.upserted = (co_await run(*dst_, with_cond(t.upsert_sql, "true"))).affected_rows();
      co_return n;
    }
    pg::result span =
        co_await run(*dst_, fmt::format("SELECT min(uringmig_rn), max(uringmig_rn) FROM {}",
                                        codecs::quote_ident(t.stage)));
    if (span.is_null(0, 0)) co_return n;
    co_await bisect(t, wc, std::stoll(std::string(span.value(0, 0))),
                    std::stoll(std::string(span.value(0, 1))), n);
    co_return n;
  }

  /// Upserts staging rows lo..hi under a savepoint; a range the target refuses is halved until
  /// the rows it refuses are alone, and those go to the rejects file.
  asio::awaitable<void> bisect(const run_table& t, const window_chunk& wc, std::int64_t lo,
                               std::int64_t hi, chunk_counts& n) {
    (void)co_await run(*dst_, "SAVEPOINT uringmig_rows");
    pg::result r = co_await dst_->query(
        with_cond(t.upsert_sql, fmt::format("s.uringmig_rn BETWEEN {} AND {}", lo, hi)));
    if (r.ok()) {
      (void)co_await run(*dst_, "RELEASE SAVEPOINT uringmig_rows");
      n.upserted += r.affected_rows();
      co_return;
    }
    (void)co_await run(*dst_, "ROLLBACK TO SAVEPOINT uringmig_rows");
    if (!row_refused(r.error())) throw pg::error(r.error());
    if (lo == hi) {
      pg::result row = co_await run(
          *dst_,
          fmt::format(
              "SELECT row_to_json(s)::text FROM (SELECT {} FROM {} WHERE uringmig_rn = {}) s",
              quoted_list(column_targets(t), ""), codecs::quote_ident(t.stage), lo));
      write_reject(t, wc, row.rows() ? std::string(row.value(0, 0)) : "null", r.error());
      ++n.rejected;
      co_return;
    }
    const std::int64_t mid = lo + (hi - lo) / 2;
    co_await bisect(t, wc, lo, mid, n);
    co_await bisect(t, wc, mid + 1, hi, n);
  }

  static std::vector<std::string> column_targets(const run_table& t) {
    std::vector<std::string> out;
    for (const auto& c : t.plan.columns)
      out.push_back(c.target);
    return out;
  }

  void write_reject(const run_table& t, const window_chunk& wc, const std::string& row_json,
                    const pg::diagnostics& why) {
    std::string line = "{\"table\":";
    codecs::append_json_string(line, t.plan.target_name);
    line += fmt::format(",\"chunk\":{},\"row\":{},\"sqlstate\":", wc.chunk_no, row_json);
    codecs::append_json_string(line, why.sqlstate);
    line += ",\"reason\":";
    codecs::append_json_string(line, why.message + (why.detail.empty() ? "" : ": " + why.detail));
    line += "}\n";
    std::lock_guard lk(j_.m);
    std::filesystem::create_directories(j_.rejects_dir);
    std::ofstream out(j_.rejects_dir / (t.plan.target_name + ".jsonl"), std::ios::app);
    out << line;
  }

  asio::awaitable<chunk_counts> reconcile(const run_table& t, const window_chunk& wc) {
    chunk_counts n;
    row_query q = t.plan.base_query();
    q.columns = t.plan.key;
    if (t.plan.key.size() == 1) {
      q.chunk_by = t.plan.key.front();
      q.chunk_class = value_class::integer;
      q.range = wc.range;
    }
    // The keys read are not rows read: the summary counts the rows that could be loaded.
    (void)co_await pipe(q, fmt::format("COPY {} ({}) FROM STDIN", codecs::quote_ident(t.keys_stage),
                                       quoted_list(t.plan.key, "")));
    std::string match;
    for (const auto& k : t.plan.key)
      match +=
          (match.empty() ? "" : " AND ") + fmt::format("k.{0} = t.{0}", codecs::quote_ident(k));
    const std::string range =
        t.plan.key.size() == 1 ? range_sql(t.plan.key.front(), wc.range) : "true";
    n.deleted =
        (co_await run(
             *dst_,
             fmt::format("DELETE FROM {} t WHERE ({}) AND NOT EXISTS (SELECT 1 FROM {} k WHERE {})",
                         t.plan.tgt.qualified(), range, codecs::quote_ident(t.keys_stage), match)))
            .affected_rows();
    co_return n;
  }

  /// Locks the chunk's row for this transaction (a worker that took the chunk over from one
  /// whose lease ran out waits for that one's transaction to end) and tells whether its done
  /// mark is there already: then its rows are in, exactly once.
  asio::awaitable<bool> done_on_target(const run_table& t, const window_chunk& wc) {
    pg::result r = co_await run(
        *dst_, fmt::format("SELECT status = 'done' FROM uringmig.chunks WHERE table_run_id = {} "
                           "AND chunk_no = {} FOR UPDATE",
                           t.table_run_id, wc.chunk_no));
    co_return r.rows() == 1 && r.value(0, 0) == "t";
  }

  /// The chunk's done mark; with the table run's last chunk, the run's end and the new mark.
  asio::awaitable<void> finish(const run_table& t, const window_chunk& wc, const chunk_counts& n) {
    const std::string id = std::to_string(t.table_run_id);
    (void)co_await run(
        *dst_,
        fmt::format(
            "UPDATE uringmig.chunks SET status = 'done', rows_read = {}, rows_upserted = {}, "
            "rows_deleted = {}, rows_rejected = {}, finished = now(), error = NULL "
            "WHERE table_run_id = {} AND chunk_no = {}",
            n.read, n.upserted, n.deleted, n.rejected, id, wc.chunk_no));
    // Chunks of one table run finish one at a time from here, whichever worker process runs
    // them: the next statement reads (READ COMMITTED) every chunk committed before, so exactly
    // one — the last — sees every other done and moves the mark (only a running table run).
    (void)co_await run(
        *dst_,
        fmt::format("SELECT 1 FROM uringmig.table_runs WHERE table_run_id = {} FOR UPDATE", id));
    (void)co_await run(
        *dst_,
        fmt::format(
            "WITH fin AS (UPDATE uringmig.table_runs SET status = 'done', finished = now(), "
            "watermark_after = coalesce(next_mark, watermark_before) WHERE table_run_id = {0} AND "
            "status = 'running' AND NOT EXISTS (SELECT 1 FROM uringmig.chunks c WHERE "
            "c.table_run_id = {0} AND c.status "
            "<> "
            "'done') RETURNING target_table, watermark_after) "
            "UPDATE uringmig.watermarks w SET mark = fin.watermark_after, updated = now(), "
            "table_run_id = {0} FROM fin WHERE w.target_table = fin.target_table",
            id));
    pg::result c = co_await dst_->query("COMMIT");
    c.check("COMMIT");
    if (std::string_view(PQcmdStatus(c.native())) != "COMMIT")
      throw job_error("the target rolled the chunk's transaction back");
  }

  load_job& j_;
  std::unique_ptr<source_session> src_;
  std::optional<pg::connection> dst_;
  std::set<std::string> staged_;
};

asio::awaitable<std::unique_ptr<chunk_worker>> open_load_worker(load_job& j) {
  co_return co_await opened_worker(std::make_unique<load_worker>(j),
                                   [](load_worker& w) { return w.open(); });
}

}  // namespace

void prepare_sql(run_table& t, std::size_t i) {
  const table_plan& p = t.plan;
  t.stage = fmt::format("uringmig_stage_{}", i);
  t.keys_stage = fmt::format("uringmig_keys_{}", i);
  std::vector<std::string> cols;
  std::string defs;
  for (const auto& c : p.columns) {
    cols.push_back(c.target);
    defs += fmt::format("{} {}, ", codecs::quote_ident(c.target), target_type(p, c.target));
  }
  t.stage_ddl = fmt::format(
      "CREATE TEMP TABLE IF NOT EXISTS {} ({}uringmig_rn bigint GENERATED ALWAYS AS IDENTITY) "
      "ON COMMIT DELETE ROWS",
      codecs::quote_ident(t.stage), defs);
  std::string key_defs;
  for (const auto& k : p.key)
    key_defs += (key_defs.empty() ? "" : ", ") + codecs::quote_ident(k) + " " + target_type(p, k);
  t.keys_ddl = fmt::format("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS",
                           codecs::quote_ident(t.keys_stage), key_defs);
  t.copy_stage_sql =
      fmt::format("COPY {} ({}) FROM STDIN", codecs::quote_ident(t.stage), quoted_list(cols, ""));
  t.copy_direct_sql =
      fmt::format("COPY {} ({}) FROM STDIN", p.tgt.qualified(), quoted_list(cols, ""));
  t.upsert_sql = upsert_sql(p, t.stage, cols);
}

std::unique_ptr<chunk_path> make_load_path(load_job& j) {
  return std::make_unique<job_path<load_job>>(j, &open_load_worker);
}

}  // namespace uringmig::engine::incremental
