#include "engine/incremental/windows.hpp"

#include "codecs/sql_text.hpp"
#include "connectors/postgres/error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace {

std::optional<std::string> opt(const pg::result& r, int row, int col) {
  if (const auto v = r.get(row, col)) return std::string(*v);
  return std::nullopt;
}

asio::awaitable<void> exec(pg::connection& c, const std::string& sql, pg::params p = {}) {
  pg::result r = co_await c.query(sql, std::move(p));
  if (!r.ok()) throw pg::error(r.error());
}

}  // namespace

asio::awaitable<std::int64_t> begin_target_run(pg::connection& c, const std::string& source,
                                               const std::string& state_dir, bool close_earlier) {
  // A run that died (kill -9) stays 'running' until a later run of the job closes it.
  if (close_earlier) {
    pg::result done = co_await c.query(
        "UPDATE uringmig.runs SET status = 'interrupted', finished = now() WHERE status = "
        "'running' AND state_dir = $1",
        pg::make_params(state_dir));
    done.check("closing earlier runs on the target");
  }
  pg::result r = co_await c.query(
      "INSERT INTO uringmig.runs (source, state_dir) VALUES ($1, $2) RETURNING run_id",
      pg::make_params(source, state_dir));
  r.check("recording the run on the target");
  co_return std::stoll(std::string(r.value(0, 0)));
}

asio::awaitable<void> end_target_run(pg::connection& c, std::int64_t id, const std::string& status,
                                     const std::string& message) {
  co_await exec(
      c, "UPDATE uringmig.runs SET status = $2, message = $3, finished = now() WHERE run_id = $1",
      pg::make_params(std::to_string(id), status, message));
}

asio::awaitable<void> load_window(pg::connection& c, run_table& t, std::int64_t table_run_id) {
  const std::string id = std::to_string(table_run_id);
  pg::result r = co_await c.query(
      "SELECT wm_from, wm_to, next_mark, watermark_before, window_key = $2 FROM "
      "uringmig.table_runs WHERE table_run_id = $1 AND target_table = $3",
      pg::make_params(id, window_key(t.plan), t.plan.target_name));
  r.check("reading the target's table runs");
  if (r.rows() == 0 || r.value(0, 4) != "t")
    throw usage_error(fmt::format(
        "{}: this worker's entry differs from the one the job's coordinator planned (table run "
        "{} on the target): start every worker of a job with the same --config",
        codecs::printable(t.plan.target_name), id));
  t.table_run_id = table_run_id;
  t.window.from = opt(r, 0, 0);
  t.window.to = opt(r, 0, 1);
  t.window.next_mark = opt(r, 0, 2);
  t.plan.mark = opt(r, 0, 3);  // the mark the window starts from, whatever moved since
  pg::result ch = co_await c.query(
      "SELECT chunk_no, kind, lower_bound, upper_bound, with_nulls, status = 'done' "
      "FROM uringmig.chunks WHERE table_run_id = $1 ORDER BY chunk_no",
      pg::make_params(id));
  ch.check("reading the target's chunks");
  t.window.chunks.clear();
  t.done.clear();
  for (int i = 0; i < ch.rows(); ++i) {
    window_chunk w;
    w.chunk_no = std::stoi(std::string(ch.value(i, 0)));
    w.kind = std::string(ch.value(i, 1));
    w.range = {opt(ch, i, 2), opt(ch, i, 3), ch.value(i, 4) == "t"};
    if (ch.value(i, 5) == "t") t.done.insert(w.chunk_no);
    t.window.chunks.push_back(std::move(w));
  }
  t.window.strategy = fmt::format("resumed ({} of {} chunks done)", t.done.size(), ch.rows());
}

asio::awaitable<bool> resume_window(pg::connection& c, run_table& t, std::int64_t run_id,
                                    bool restart) {
  pg::result r = co_await c.query(
      "SELECT table_run_id, window_key = $2 FROM uringmig.table_runs "
      "WHERE target_table = $1 AND status = 'running' ORDER BY table_run_id DESC LIMIT 1",
      pg::make_params(t.plan.target_name, window_key(t.plan)));
  r.check("reading the target's table runs");
  if (r.rows() == 0) co_return false;
  const std::string id(r.value(0, 0));
  if (r.value(0, 1) != "t" || restart) {
    spdlog::warn("{}: the unfinished run of this table {}; starting a new one",
                 codecs::printable(t.plan.target_name),
                 restart ? "is abandoned (--restart)" : "was for other settings");
    co_await exec(c,
                  "UPDATE uringmig.table_runs SET status = 'abandoned', finished = now() WHERE "
                  "table_run_id = $1",
                  pg::make_params(id));
    co_return false;
  }
  co_await load_window(c, t, std::stoll(id));
  co_await exec(c, "UPDATE uringmig.table_runs SET run_id = $2 WHERE table_run_id = $1",
                pg::make_params(id, std::to_string(run_id)));
  co_return true;
}

asio::awaitable<void> create_window(pg::connection& c, run_table& t, std::int64_t run_id) {
  const table_plan& p = t.plan;
  co_await exec(c, "BEGIN");
  std::exception_ptr error;
  try {
    pg::result r = co_await c.query(
        "INSERT INTO uringmig.table_runs (run_id, target_table, source_table, mode, window_key, "
        "wm_from, wm_to, next_mark, watermark_before) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "RETURNING table_run_id",
        pg::make_params(std::to_string(run_id), p.target_name, p.entry.source.written,
                        p.entry.mode == load_mode::full ? "full" : "incremental", window_key(p),
                        t.window.from, t.window.to, t.window.next_mark, p.mark));
    r.check("recording a table run on the target");
    t.table_run_id = std::stoll(std::string(r.value(0, 0)));
    for (const auto& ch : t.window.chunks)
      co_await exec(
          c,
          "INSERT INTO uringmig.chunks (table_run_id, chunk_no, kind, lower_bound, "
          "upper_bound, with_nulls) VALUES ($1, $2, $3, $4, $5, $6)",
          pg::make_params(std::to_string(t.table_run_id), std::to_string(ch.chunk_no), ch.kind,
                          ch.range.lower, ch.range.upper, ch.range.nulls ? "true" : "false"));
    co_await exec(c,
                  "INSERT INTO uringmig.watermarks (target_table, source_table, watermark_column) "
                  "VALUES ($1, $2, $3) ON CONFLICT (target_table) DO NOTHING",
                  pg::make_params(p.target_name, p.entry.source.written, p.entry.watermark));
    if (p.entry.mode == load_mode::full) {
      co_await exec(c, "TRUNCATE " + p.tgt.qualified());
      if (p.entry.disable_indexes) {
        for (const auto& i : p.tgt.indexes) {
          if (i.constraint ||
              (i.unique && key_is_unique(target_table{true, "", "", {}, {i}}, p.key)))
            continue;
          co_await exec(c,
                        "INSERT INTO uringmig.dropped_indexes (table_run_id, index_name, "
                        "definition) VALUES ($1, $2, $3)",
                        pg::make_params(std::to_string(t.table_run_id), i.name, i.definition));
          co_await exec(c, "DROP INDEX " + codecs::qualified_name(p.tgt.schema, i.name));
        }
      }
    }
    co_await exec(c, "COMMIT");
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    (void)co_await c.query("ROLLBACK");
    std::rethrow_exception(error);
  }
}

asio::awaitable<int> rebuild_indexes(pg::connection& c, const std::string& target_table) {
  pg::result r = co_await c.query(
      "SELECT d.table_run_id, d.index_name, d.definition FROM uringmig.dropped_indexes d JOIN "
      "uringmig.table_runs t USING (table_run_id) WHERE t.target_table = $1 AND t.status <> "
      "'running' ORDER BY d.index_name",
      pg::make_params(target_table));
  r.check("reading the indexes to rebuild");
  for (int i = 0; i < r.rows(); ++i) {
    spdlog::info("{}: rebuilding index {}", codecs::printable(target_table),
                 codecs::printable(r.value(i, 1)));
    // The build and the forgetting of its row commit together: a kill in between rebuilds again.
    co_await exec(c, "BEGIN");
    co_await exec(c, std::string(r.value(i, 2)));
    co_await exec(
        c, "DELETE FROM uringmig.dropped_indexes WHERE table_run_id = $1 AND index_name = $2",
        pg::make_params(std::string(r.value(i, 0)), std::string(r.value(i, 1))));
    co_await exec(c, "COMMIT");
  }
  co_return r.rows();
}

}  // namespace uringmig::engine::incremental
