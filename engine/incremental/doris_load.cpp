// The chunks of incremental table runs into Doris on the shared chunk runner: per chunk, the
// source's rows as Doris CSV (codecs/doris_transcode) in one labelled Stream Load; its filtered
// rows to the rejects file; then the chunk's done mark and, with the window's last chunk, the
// new watermark in the state store.

#include "codecs/byte_buffer.hpp"
#include "codecs/copy_text.hpp"
#include "codecs/doris_transcode.hpp"
#include "codecs/doris_types.hpp"
#include "codecs/json_text.hpp"
#include "codecs/sql_text.hpp"
#include "connectors/postgres/error.hpp"
#include "engine/core/job.hpp"
#include "engine/incremental/doris_target.hpp"
#include "engine/incremental/job_path.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <fstream>
#include <set>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace dc = connectors::doris;

namespace {

struct chunk_counts {
  std::int64_t read = 0;
  std::int64_t upserted = 0;
  std::int64_t deleted = 0;
  std::int64_t rejected = 0;
};

using key_tuple = std::vector<std::optional<std::string>>;

/// The most keys one reconcile pass reads back from Doris (its passes cover 4 x chunk_rows
/// source keys each).
constexpr std::uint64_t max_target_keys = 10'000'000;

class doris_worker final : public chunk_worker {
 public:
  explicit doris_worker(doris_job& j) : j_(j) {}

  asio::awaitable<void> open() {
    auto ex = co_await asio::this_coro::executor;
    src_ = co_await j_.src->open_session(ex);
    http_.emplace(ex, j_.side.http);
  }

  asio::awaitable<chunk_attempt> load(const chunk_table& ct, const planned_chunk& pc) override {
    doris_table& t = *j_.tables[ct.id];
    const window_chunk& wc = t.win.window.chunks.at(static_cast<std::size_t>(pc.chunk_no));
    const auto t0 = std::chrono::steady_clock::now();
    chunk_attempt a;
    chunk_counts n;
    std::string error;
    bool retryable = false;
    try {
      // Not a conditional expression: GCC 12 evaluates both co_awaits of one.
      if (wc.kind == "reconcile") {
        n = co_await reconcile(t, wc, a);
      } else {
        n = co_await rows(t, wc, a);
      }
      if (!a.interrupted) {
        co_await done(t, wc);
        a.ok = true;
      }
    } catch (const connectors::postgres::error& e) {
      error = e.diag().to_string();
      retryable = e.retryable();
    } catch (const usage_error&) {
      throw;
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (a.interrupted) co_return a;
    if (!a.ok) {
      a.error = fmt::format("{} chunk {}: {}", t.plan.target_name, pc.chunk_no,
                            error.empty() ? a.error : error);
      a.retryable = retryable;
      co_return a;
    }
    t.rows_read += n.read;
    t.rows_upserted += n.upserted;
    t.rows_rejected += n.rejected;
    t.rows_deleted += n.deleted;
    a.rows = n.read;
    a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    co_return a;
  }

  asio::awaitable<void> recover(const chunk_table&) override { co_return; }

  asio::awaitable<void> close() override {
    if (src_) co_await src_->close();
  }

 private:
  /// The chunk's rows as one Doris CSV body, loaded under the chunk's label.
  asio::awaitable<chunk_counts> rows(doris_table& t, const window_chunk& wc, chunk_attempt& a) {
    chunk_counts n;
    row_query q = t.plan.base_query();
    q.window = !t.plan.entry.watermark.empty();
    q.from = t.win.window.from;
    q.to = t.win.window.to;
    if (!t.plan.entry.chunk_by.empty()) q.range = wc.range;
    codecs::doris_csv_transcoder csv(t.writer->columns());
    codecs::byte_buffer body;
    std::string bad;
    n.read = co_await src_->copy_rows(q, j_.pool, [&](io::buffer b) -> asio::awaitable<bool> {
      const std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
      if (!csv.feed(text, body)) {
        bad = csv.error();
        co_return false;
      }
      co_return true;
    });
    if (!bad.empty() || !csv.finish())
      throw job_error("reading " + codecs::printable(t.plan.src.display) + ": " +
                      (bad.empty() ? std::string("the rows ended mid-row") : bad));
    if (n.read == 0) co_return n;
    const std::optional<dc::labelled_result> r = co_await send(t, wc, t.headers, body.view(), a);
    if (!r) co_return n;
    n.upserted = n.read;
    if (r->earlier) co_return n;
    const dc::load_answer& ans = *r->answer;
    const auto filtered = static_cast<std::int64_t>(ans.number_filtered_rows);
    if (ans.number_total_rows != static_cast<std::uint64_t>(n.read))
      throw job_error(
          fmt::format("Doris read {} rows where {} were sent", ans.number_total_rows, n.read));
    if (filtered > 0) {
      n.rejected = filtered;
      n.upserted = static_cast<std::int64_t>(ans.number_loaded_rows);
      co_await write_rejects(t, wc, doris_label(j_, t, wc.chunk_no), ans.error_url, filtered);
    }
    co_return n;
  }

  /// Loads `body` under the chunk's label; throws job_error when Doris did not take it.
  asio::awaitable<std::optional<dc::labelled_result>> send(const doris_table& t,
                                                           const window_chunk& wc,
                                                           dc::http_headers headers,
                                                           std::string_view body,
                                                           chunk_attempt& a) {
    dc::stream_load_request rq;
    rq.endpoint = j_.side.endpoint();
    rq.db = t.db;
    rq.table = t.table;
    rq.label = doris_label(j_, t, wc.chunk_no);
    rq.headers = std::move(headers);
    rq.body = std::as_bytes(std::span(body.data(), body.size()));
    rq.options.expect_100_timeout = j_.side.expect_100;
    const std::string what = fmt::format(
        "{} chunk {} (label {})", codecs::printable(t.plan.target_name), wc.chunk_no, rq.label);
    dc::labelled_result r = co_await dc::load_with_label(*http_, rq, j_.side.policy, what);
    if (r.unauthorized)
      throw usage_error(
          fmt::format("Doris refused user '{}' at {} (wrong user or password): fix the target URL",
                      j_.side.target.user, j_.side.fe_url()));
    if (r.interrupted) {
      a.interrupted = true;
      co_return std::nullopt;
    }
    if (!r.ok) {
      std::string why = r.error;
      if (r.answer && !r.answer->error_url.empty())
        why += " (rows Doris filtered: " + r.answer->error_url + ")";
      throw job_error(why);
    }
    if (r.earlier) spdlog::info("doris: {} was loaded by an earlier attempt", what);
    co_return r;
  }

  /// Keys of the target in the pass's range that the source no longer has, deleted with a
  /// `merge_type: DELETE` load of those keys.
  asio::awaitable<chunk_counts> reconcile(doris_table& t, const window_chunk& wc,
                                          chunk_attempt& a) {
    chunk_counts n;
    const auto& key = t.plan.key;
    row_query q = t.plan.base_query();
    q.columns = key;
    const bool ranged = key.size() == 1;  // passes split a single integer key only
    if (ranged) {
      q.chunk_by = key.front();
      q.chunk_class = value_class::integer;
      q.range = wc.range;
    }
    std::set<key_tuple> have;
    codecs::copy_text_parser parser;
    parser.expect_fields(key.size());
    auto on_row = [&](const std::vector<std::optional<std::string_view>>& f) {
      key_tuple k;
      for (const auto& v : f)
        k.push_back(v ? std::optional<std::string>(std::string(*v)) : std::nullopt);
      have.insert(std::move(k));
    };
    std::string bad;
    (void)co_await src_->copy_rows(q, j_.pool, [&](io::buffer b) -> asio::awaitable<bool> {
      const std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
      if (!parser.feed(text, on_row)) {
        bad = parser.error();
        co_return false;
      }
      co_return true;
    });
    if (!bad.empty() || !parser.finish())
      throw job_error("reading the keys of " + codecs::printable(t.plan.src.display) + ": " +
                      (bad.empty() ? std::string("the rows ended mid-row") : bad));
    std::string stmt = "SELECT ";
    for (const auto& k : key)
      stmt += (&k == &key.front() ? "" : ", ") + codecs::quote_doris_ident(k);
    stmt += " FROM " + codecs::quote_doris_ident(t.table);
    if (ranged && (wc.range.lower || wc.range.upper)) {
      const std::string c = codecs::quote_doris_ident(key.front());
      stmt += " WHERE ";
      if (wc.range.lower) stmt += c + " >= " + *wc.range.lower;
      if (wc.range.lower && wc.range.upper) stmt += " AND ";
      if (wc.range.upper) stmt += c + " < " + *wc.range.upper;
    }
    dc::http_options o;
    o.total_timeout = std::chrono::minutes(10);
    dc::query_rows target =
        co_await dc::run_query(*http_, j_.side.endpoint(), t.db, stmt, max_target_keys, o);
    if (target.transport)
      throw job_error("reading the keys of Doris table " + t.plan.target_name + ": " +
                      target.transport->message);
    if (!target.error.empty())
      throw job_error("reading the keys of Doris table " + t.plan.target_name + ": " +
                      target.error);
    if (target.rows.size() >= max_target_keys)
      throw job_error(
          fmt::format("Doris table {} holds {} or more keys in one reconcile pass: "
                      "lower incremental.chunk_rows",
                      t.plan.target_name, max_target_keys));
    std::vector<codecs::doris_column> cols;
    for (const auto& k : key)
      cols.push_back({k, codecs::doris_value_kind::text});
    const codecs::doris_row_writer writer(codecs::doris_format::csv, cols);
    std::string body;
    std::vector<std::optional<std::string_view>> fields;
    for (const key_tuple& k : target.rows) {
      if (have.count(k) != 0) continue;
      fields.clear();
      for (const auto& v : k)
        fields.push_back(v ? std::optional<std::string_view>(*v) : std::nullopt);
      if (writer.append_row(body, fields)) ++n.deleted;
    }
    if (n.deleted == 0) co_return n;
    dc::http_headers headers;
    for (auto& [k, v] : writer.headers())
      headers.emplace_back(k, v);
    headers.emplace_back("merge_type", "DELETE");
    if (j_.side.load_timeout_s > 0)
      headers.emplace_back("timeout", std::to_string(j_.side.load_timeout_s));
    (void)co_await send(t, wc, std::move(headers), body, a);
    co_return n;
  }

  /// The rows Doris filtered, from the load's ErrorURL, into <state-dir>/rejects/<table>.jsonl.
  asio::awaitable<void> write_rejects(const doris_table& t, const window_chunk& wc,
                                      const std::string& label, const std::string& url,
                                      std::int64_t filtered) {
    std::vector<dc::filtered_row> rows;
    std::string problem;
    if (url.empty()) {
      problem = "Doris gave no ErrorURL";
    } else {
      dc::http_options o;
      o.total_timeout = std::chrono::seconds(60);
      const dc::error_log log = co_await dc::fetch_error_log(*http_, url, o);
      if (log.transport)
        problem = "fetching " + url + ": " + log.transport->message;
      else if (!log.error.empty())
        problem = log.error + " (" + url + ")";
      else
        rows = dc::parse_error_log(log.text);
    }
    std::string out;
    auto line = [&](const std::optional<std::string>& row, const std::string& reason) {
      out += "{\"table\":";
      codecs::append_json_string(out, t.plan.target_name);
      out += fmt::format(",\"chunk\":{},\"label\":", wc.chunk_no);
      codecs::append_json_string(out, label);
      out += ",\"row\":";
      if (row)
        codecs::append_json_string(out, *row);
      else
        out += "null";
      out += ",\"reason\":";
      codecs::append_json_string(out, reason);
      out += "}\n";
    };
    for (const auto& r : rows)
      line(r.line, r.reason);
    if (static_cast<std::int64_t>(rows.size()) < filtered)
      line(std::nullopt, fmt::format("{} filtered row(s) not in the error log{}",
                                     filtered - static_cast<std::int64_t>(rows.size()),
                                     problem.empty() ? "" : ": " + problem));
    spdlog::warn("doris: {} chunk {}: {} row(s) filtered by Doris: see {}",
                 codecs::printable(t.plan.target_name), wc.chunk_no, filtered,
                 (j_.rejects_dir / (t.plan.target_name + ".jsonl")).string());
    std::lock_guard lk(j_.m);
    std::filesystem::create_directories(j_.rejects_dir);
    std::ofstream f(j_.rejects_dir / (t.plan.target_name + ".jsonl"), std::ios::app);
    f << out;
  }

  /// The chunk is in Doris: its done mark; the window's last one moves the watermark. Workers:
  /// the chunk runner's mark in the state (finish_doris_tables moves the watermark).
  asio::awaitable<void> done(doris_table& t, const window_chunk& wc) {
    if (j_.shared) co_return;
    co_await j_.state->write_off_context([&] {
      std::lock_guard lk(j_.m);
      t.win.done.insert(wc.chunk_no);
      if (t.win.done.size() == t.win.window.chunks.size())
        finish_window(*j_.state, t.plan.target_name, t.win.window.next_mark);
      else
        save_window(*j_.state, t.plan.target_name, t.win);
    });
  }

  doris_job& j_;
  std::unique_ptr<source_session> src_;
  std::optional<dc::http_client> http_;
};

asio::awaitable<std::unique_ptr<chunk_worker>> open_doris_worker(doris_job& j) {
  co_return co_await opened_worker(std::make_unique<doris_worker>(j),
                                   [](doris_worker& w) { return w.open(); });
}

}  // namespace

std::unique_ptr<chunk_path> make_doris_path(doris_job& j) {
  return std::make_unique<job_path<doris_job>>(j, &open_doris_worker);
}

}  // namespace uringmig::engine::incremental
