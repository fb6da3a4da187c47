// One chunk into Doris: rows read under the snapshot, rewritten by codecs/doris_format and
// streamed as the body of a Stream Load; the answer checked; retries with the same label.

#include "codecs/compress_stream.hpp"
#include "codecs/copy_text.hpp"
#include "codecs/doris_binary_transcode.hpp"
#include "codecs/doris_transcode.hpp"
#include "codecs/sql_text.hpp"
#include "connectors/doris/labelled_load.hpp"
#include "engine/core/planner.hpp"
#include "engine/core/state_store.hpp"
#include "engine/doris/load.hpp"
#include "io/channel.hpp"
#include "io/sleep.hpp"
#include "io/wait_all.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdlib>

namespace uringmig::engine::doris {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

std::string precommit_key(const table_target& t, int chunk_no) {
  return fmt::format("{}{}", precommit_prefix, t.label_stem) + "." + std::to_string(chunk_no);
}

std::chrono::milliseconds backoff_for(const load_settings& s, int attempt) {
  connectors::doris::retry_policy p;
  p.backoff = s.backoff;
  p.backoff_max = s.backoff_max;
  return connectors::doris::backoff_for(p, attempt);
}

std::string chunk_label(const job& j, const table_target& t, int chunk_no) {
  return fmt::format("uringmig_{}_{}_{}", j.token, t.label_stem, chunk_no);
}

namespace {

/// Where the producer of an attempt stands: it starts reading only once libcurl wants body
/// bytes, so a 307 or a refusal before `100 Continue` costs no source read.
struct body_gate {
  explicit body_gate(const asio::any_io_executor& ex)
      : timer(ex, asio::steady_timer::time_point::max()) {}
  enum { waiting, go, abandoned } state = waiting;
  asio::steady_timer timer;

  void open(bool wanted) {
    if (state != waiting) return;
    state = wanted ? go : abandoned;
    timer.cancel();
  }
  asio::awaitable<bool> wait() {
    while (state == waiting)
      (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return state == go;
  }
};

struct produced {
  std::int64_t rows = 0;
  std::uint64_t bytes = 0;  // body bytes (compressed when compressing)
  bool started = false;
  bool complete = false;  // every row went out and the body was closed
  std::exception_ptr error;
};

/// Copies `bytes` into pooled buffers on the channel. False: the exchange is over.
asio::awaitable<bool> ship(job& j, std::string_view bytes, io::channel<io::buffer>& ch,
                           produced& out) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    io::buffer b = co_await j.pool.acquire();
    at += b.append(bytes.data() + at, bytes.size() - at);
    out.bytes += b.size();
    const bool sent = co_await ch.send(std::move(b));
    if (!sent) co_return false;
  }
  co_return true;
}

asio::awaitable<void> produce(job& j, worker& w, table_target& t, const planned_chunk& c,
                              io::channel<io::buffer>& ch, body_gate& gate, produced& out) {
  try {
    const bool wanted = co_await gate.wait();
    if (!wanted) co_return;
    out.started = true;
    const std::size_t piece = j.cfg.buffer_bytes;
    codecs::byte_buffer csv_text;  // CSV rows (the transcoder's output)
    std::string rows_text;         // JSON rows (the row writer's output)
    std::string zipped;            // either, compressed
    std::optional<codecs::compress_stream> zip;
    if (j.cfg.compress == "gz") zip.emplace(codecs::compression::gzip);
    if (j.cfg.compress == "lz4") zip.emplace(codecs::compression::lz4);
    // CSV: COPY binary when every column's type allows it (codecs/doris_binary_transcode.hpp),
    // else COPY text, most rows in one pass (codecs/doris_transcode.hpp).
    std::optional<codecs::doris_binary_transcoder> bin;
    std::optional<codecs::doris_csv_transcoder> csv;
    if (t.writer.format() == codecs::doris_format::csv) {
      if (!t.binary.empty())
        bin.emplace(t.binary);
      else
        csv.emplace(t.writer.columns());
    }
    const bool csv_out = bin || csv;
    codecs::copy_text_parser parser;
    parser.expect_fields(t.writer.columns().size());
    bool bad_row = false;
    auto on_row = [&](const std::vector<std::optional<std::string_view>>& f) {
      if (!t.writer.append_row(rows_text, f)) bad_row = true;
      ++out.rows;
    };
    auto convert = [&](std::string_view text) {
      if (bin) return bin->feed(text, csv_text);
      if (!csv) return parser.feed(text, on_row) && !bad_row;
      return csv->feed(text, csv_text);
    };
    auto pending = [&] { return csv_out ? csv_text.size() : rows_text.size(); };
    auto clear_pending = [&] {
      csv_text.clear();
      rows_text.clear();
    };
    // What goes on the wire: the rows, or them compressed (only once it has grown enough).
    auto wire = [&](bool last) -> std::string_view {
      const std::string_view rows = csv_out ? csv_text.view() : std::string_view(rows_text);
      if (!zip) return rows;
      zip->write(rows, zipped);
      if (last) zip->finish(zipped);
      clear_pending();
      return zipped;
    };
    std::string parse_error;
    bool refused = false;
    const std::string sql =
        "COPY (" + chunk_select(t.info, c) + ") TO STDOUT" + (bin ? " (FORMAT binary)" : "");
    pg::result res =
        co_await w.source->copy_out(sql, j.pool, [&](io::buffer b) -> asio::awaitable<bool> {
          const std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
          const bool parsed = convert(text);
          b.reset();  // the slab goes back before we wait for room on the channel
          if (!parsed) {
            if (bin)
              parse_error = bin->error();
            else if (csv)
              parse_error = csv->error();
            else if (bad_row)
              parse_error = "a row with the wrong number of fields";
            else
              parse_error = parser.error();
            co_return false;
          }
          if (pending() < piece) co_return true;
          const std::string_view bytes = wire(false);
          if (bytes.size() < piece) co_return true;
          const bool sent = co_await ship(j, bytes, ch, out);
          clear_pending();
          zipped.clear();
          if (!sent) refused = true;
          co_return sent;
        });
    if (refused) co_return;  // the exchange ended first: its outcome says why
    if (!parse_error.empty())
      throw job_error("reading " + codecs::printable(t.info.display()) + ": " + parse_error);
    res.check("reading " + codecs::printable(t.info.display()));
    if (bin) out.rows = bin->rows();
    if (csv) out.rows = csv->rows();
    if (!(bin ? bin->finish() : csv ? csv->finish() : parser.finish()))
      throw job_error("reading " + codecs::printable(t.info.display()) +
                      ": the COPY data ended mid-row");
    const std::string_view bytes = wire(true);
    const bool sent = co_await ship(j, bytes, ch, out);
    if (!sent) co_return;
    out.complete = true;
    ch.close();
  } catch (...) {
    out.error = std::current_exception();
    // Cancelled, not closed: the client aborts the request, so Doris never commits a part.
    ch.cancel();
  }
}

struct attempt_result {
  connectors::doris::load_outcome outcome;
  produced body;
};

/// One exchange of a chunk with Doris at `url`, the body streamed by a fresh producer.
asio::awaitable<attempt_result> attempt(job& j, worker& w, table_target& t, const planned_chunk& c,
                                        std::string label, std::string base, std::string url) {
  auto ex = co_await asio::this_coro::executor;
  io::channel<io::buffer> ch(j.cfg.channel_bytes);
  body_gate gate(ex);
  attempt_result r;
  auto send = [&]() -> asio::awaitable<void> {
    connectors::doris::stream_load_request rq;
    rq.endpoint = j.endpoint(base);
    rq.db = j.cfg.target.database;
    rq.table = t.doris_table;
    rq.label = label;
    rq.headers = t.headers;
    rq.stream = &ch;
    rq.on_body_wanted = [&gate] { gate.open(true); };
    rq.url = url;
    rq.options.expect_100_timeout = j.cfg.expect_100_timeout;
    try {
      r.outcome = co_await connectors::doris::stream_load(*w.http, std::move(rq));
    } catch (...) {
      gate.open(false);
      throw;
    }
    gate.open(false);  // answered before it wanted the body: nothing to read
  };
  std::vector<io::spawned> ops;
  ops.push_back(asio::co_spawn(ex, produce(j, w, t, c, ch, gate, r.body), asio::deferred));
  ops.push_back(asio::co_spawn(ex, send(), asio::deferred));
  co_await io::wait_all(std::move(ops));
  co_return r;
}

/// Commits (or aborts) a precommitted transaction; `done` when it is (or already was) so.
struct two_phase_verdict {
  bool done = false;
  bool gone = false;  // aborted or unknown: the label may be loaded again
  std::string message;
};

asio::awaitable<two_phase_verdict> finish_two_phase(job& j, connectors::doris::http_client& http,
                                                    std::int64_t txn_id, std::string label,
                                                    bool commit) {
  connectors::doris::two_phase_request rq;
  std::string base = j.fe_base_url();
  if (j.bes) base = j.next_base_url();
  rq.endpoint = j.endpoint(std::move(base));
  rq.db = j.cfg.target.database;
  rq.txn_id = txn_id;
  rq.label = std::move(label);
  rq.commit = commit;
  connectors::doris::load_outcome o =
      co_await connectors::doris::stream_load_2pc(http, std::move(rq));
  two_phase_verdict v;
  v.message = o.describe();
  if (o.answer && o.answer->two_phase_ok()) {
    v.done = true;
  } else if (o.answer) {
    const std::string& m = o.answer->message;
    const std::string_view want = commit ? "already visible" : "already aborted";
    if (m.find(want) != std::string::npos ||
        (commit && m.find("already committed") != std::string::npos))
      v.done = true;
    else if (commit && (m.find("already aborted") != std::string::npos ||
                        m.find("not found") != std::string::npos))
      v.gone = true;
  }
  co_return v;
}

/// What became of a label that an earlier request still held (Label Already Exists, RUNNING).
enum class label_fate {
  loaded,        // VISIBLE or COMMITTED: that request loaded the rows
  gone,          // ABORTED or UNKNOWN: load again, under the same label
  precommitted,  // 2PC: the earlier request precommitted; commit it
  stopped,       // SIGINT or --max-runtime while waiting
  undecided,     // still running after the load timeout
};

/// Asks the FE for the label's state (`get_load_state`) until it settles; never sends rows
/// meanwhile. Doris cancels a load after its timeout, so the wait is bounded by it.
asio::awaitable<label_fate> wait_for_label(job& j, connectors::doris::http_client& http,
                                           const std::string& label, const std::string& what,
                                           std::string& last) {
  const auto limit = std::chrono::seconds(j.cfg.load_timeout_s > 0 ? j.cfg.load_timeout_s : 600) +
                     std::chrono::seconds(60);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int polls = 0;; ++polls) {
    connectors::doris::http_options o;
    o.total_timeout = std::chrono::seconds(30);
    connectors::doris::label_state st = co_await connectors::doris::get_load_state(
        http, j.endpoint(j.fe_base_url()), j.cfg.target.database, label, o);
    if (st.unauthorized)
      throw job_error(
          fmt::format("Doris refused user '{}' at {} (wrong user or password): fix the target URL",
                      j.cfg.target.user, j.fe_base_url()));
    if (st.transport) {
      last = "asking the FE: " + st.transport->message;
    } else if (!st.error.empty()) {
      last = "asking the FE: " + st.error;
    } else {
      last = "the FE says " + st.state;
      if (st.state == "VISIBLE" || st.state == "COMMITTED") co_return label_fate::loaded;
      if (st.state == "ABORTED" || st.state == "UNKNOWN") co_return label_fate::gone;
      if (st.state == "PRECOMMITTED" && j.cfg.two_phase) co_return label_fate::precommitted;
    }
    if (std::chrono::steady_clock::now() >= deadline) co_return label_fate::undecided;
    const auto d = backoff_for(j.cfg, std::min(polls, 6));
    spdlog::info(
        "doris: {}: an earlier request with this label is still running ({}); asking the FE "
        "again in {} ms",
        what, last, d.count());
    if (!co_await io::sleep_unless_stopped(d, j.stop)) co_return label_fate::stopped;
  }
}

/// Drops a chunk's precommit mark once its transaction is committed, whoever committed it (this
/// attempt, or an earlier one whose worker died: a mark left behind would be committed again).
asio::awaitable<void> forget_precommit(job& j, const table_target& t, int chunk_no) {
  if (j.cfg.two_phase)
    co_await j.state.write_off_context([&] { j.state.erase(precommit_key(t, chunk_no)); });
}

/// Rows Doris took against rows sent. Empty when they match.
std::string count_mismatch(const job& j, const connectors::doris::load_answer& a,
                           std::int64_t sent) {
  const auto total = static_cast<std::int64_t>(a.number_total_rows);
  const auto loaded = static_cast<std::int64_t>(a.number_loaded_rows);
  const auto filtered = static_cast<std::int64_t>(a.number_filtered_rows);
  const auto unselected = static_cast<std::int64_t>(a.number_unselected_rows);
  if (a.group_commit && total == 0 && loaded == 0) return {};  // async group commit: no counts
  if (total != sent) return fmt::format("Doris read {} rows where {} were sent", total, sent);
  if (filtered > 0 && j.cfg.max_filter_ratio.empty())
    return fmt::format("Doris filtered {} of {} rows{}", filtered, sent,
                       a.error_url.empty() ? "" : " (see " + a.error_url + ")");
  if (loaded + filtered + unselected != sent)
    return fmt::format("Doris loaded {} of {} rows ({} filtered, {} unselected)", loaded, sent,
                       filtered, unselected);
  if (unselected > 0 && j.cfg.where.empty())
    return fmt::format("Doris left out {} rows without a `where`", unselected);
  return {};
}

}  // namespace

asio::awaitable<chunk_result> load_chunk(job& j, worker& w, table_target& t,
                                         const planned_chunk& c) {
  // GCC 12: no temporaries in a conditional expression inside a coroutine.
  const std::string label = chunk_label(j, t, c.chunk_no);
  std::string sent_label;  // group commit takes none
  if (j.cfg.group_commit.empty()) sent_label = label;
  const std::string what =
      fmt::format("{} chunk {} (label {})", codecs::printable(t.info.display()), c.chunk_no,
                  sent_label.empty() ? std::string_view("none: group commit") : label);
  chunk_result res;
  int failures = 0;
  int waits = 0;
  // Rows of an attempt of this run whose body went out whole: when a later attempt finds the
  // label FINISHED, those are the rows it loaded.
  std::optional<std::int64_t> sent_whole;
  const int max_waits = std::max(20, j.cfg.retries * 4);
  std::string last_error;
  auto give_up_or_wait = [&](std::string why) -> bool {
    last_error = std::move(why);
    ++failures;
    return failures <= j.cfg.retries;
  };
  for (;;) {
    if (failures > 0 || waits > 0) {
      const auto d = backoff_for(j.cfg, failures + std::min(waits, 4) - 1);
      spdlog::warn("doris: {}: {}; trying again in {} ms with the same label", what, last_error,
                   d.count());
      if (!co_await io::sleep_unless_stopped(d, j.stop)) {
        spdlog::info("doris: {}: not tried again: stopping (the next run loads it)", what);
        res.interrupted = true;
        co_return res;
      }
    }
    ++res.attempts;
    std::string base = j.next_base_url();
    std::string url;
    attempt_result a;
    for (int hop = 0;; ++hop) {
      a = co_await attempt(j, w, t, c, sent_label, base, url);
      if (!a.outcome.redirect_to || hop >= 3 || a.body.error) break;
      // The FE's 307 came before any body byte: send again, a fresh stream of the same rows.
      url = *a.outcome.redirect_to;
    }
    if (a.body.error) {
      // The source failed mid-chunk; the request was aborted, so Doris committed nothing.
      std::string source_error;
      try {
        std::rethrow_exception(a.body.error);
      } catch (const pg::error& e) {
        if (!e.retryable()) throw;
        source_error = e.diag().to_string();
      }
      if (!give_up_or_wait("reading the source: " + source_error)) break;
      if (!w.source->is_open()) {
        co_await w.source->reconnect();
        co_await join_snapshot(j, *w.source);
      }
      continue;
    }
    const connectors::doris::load_outcome& o = a.outcome;
    if (a.body.complete) sent_whole = a.body.rows;
    spdlog::debug("doris: {}: {} ({} body bytes, {} rows)", what, o.describe(), o.body_bytes_sent,
                  a.body.rows);
    // Group commit takes no label: once the body went out, an unknown outcome may have
    // loaded the rows, and sending them again could load them twice.
    const bool unlabelled_unknown = !j.cfg.group_commit.empty() && a.body.started;
    if (o.transport) {
      if (o.transport->retryable() && !unlabelled_unknown) {
        if (!give_up_or_wait(o.describe())) break;
        continue;
      }
      last_error = o.describe();
      if (unlabelled_unknown)
        last_error += " (group commit has no label: whether these rows were loaded is unknown)";
      break;
    }
    if (o.refused_redirect) throw job_error("doris: loading " + what + ": " + o.error);
    if (o.redirect_to) {
      last_error = "too many redirects";
      break;
    }
    if (o.http_status == 401 || (o.answer && o.answer->unauthorized()))
      throw job_error(
          fmt::format("Doris refused user '{}' at {} (wrong user or password): fix the target URL",
                      j.cfg.target.user, o.served_by));
    if (!o.answer) {
      // An HTTP error without a readable answer: a proxy, a restarting node. Unknown outcome.
      if (unlabelled_unknown) {
        last_error = o.describe() +
                     " (group commit has no label: whether these rows were "
                     "loaded is unknown)";
        break;
      }
      if (!give_up_or_wait(o.describe())) break;
      continue;
    }
    const connectors::doris::load_answer& ans = *o.answer;
    if (ans.already_loaded()) {
      spdlog::info("doris: {} was loaded by an earlier attempt (label FINISHED)", what);
      co_await forget_precommit(j, t, c.chunk_no);
      res.ok = true;
      res.rows = sent_whole.value_or(0);
      break;
    }
    if (ans.label_running()) {
      // An earlier request with this label (a killed run's, an attempt whose answer was lost)
      // is still being processed: wait for it and ask, never send the rows meanwhile.
      spdlog::info("doris: {}: an earlier request with this label is still running; waiting", what);
      std::string state;
      const label_fate fate = co_await wait_for_label(j, *w.http, label, what, state);
      if (fate == label_fate::loaded) {
        spdlog::info("doris: {} was loaded by an earlier attempt (label VISIBLE)", what);
        co_await forget_precommit(j, t, c.chunk_no);
        res.ok = true;
        res.rows = sent_whole.value_or(0);
        break;
      }
      if (fate == label_fate::stopped) {
        spdlog::info("doris: {}: not waited for further: stopping (the next run asks again)", what);
        res.interrupted = true;
        co_return res;
      }
      if (fate == label_fate::precommitted) {
        // A precommit of an attempt that died before its commit (killed right after it, or a
        // worker that died holding the chunk).
        two_phase_verdict v = co_await finish_two_phase(j, *w.http, -1, label, true);
        if (v.done) {
          spdlog::info("doris: {}: committed the earlier attempt's precommitted transaction", what);
          co_await forget_precommit(j, t, c.chunk_no);
          res.ok = true;
          break;
        }
        last_error = "committing the earlier precommit failed: " + v.message;
        break;
      }
      if (fate == label_fate::undecided || ++waits > max_waits) {
        last_error = "the label stayed RUNNING (" + state + ")";
        break;
      }
      last_error = "the earlier request with this label ended without loading (" + state + ")";
      continue;
    }
    if (ans.committed()) {
      std::string mismatch = "Doris answered before the whole chunk was sent";
      if (a.body.complete) mismatch = count_mismatch(j, ans, a.body.rows);
      if (!mismatch.empty()) {
        if (j.cfg.two_phase && ans.txn_id >= 0) {
          two_phase_verdict v = co_await finish_two_phase(j, *w.http, ans.txn_id, label, false);
          spdlog::warn("doris: {}: aborted the precommitted transaction {}: {}", what, ans.txn_id,
                       v.message);
        }
        last_error = mismatch;
        break;
      }
      if (j.cfg.two_phase) {
        // Recorded first: a crash from here on is finished by the next run's commit.
        const std::string mark = fmt::format("{}\t{}\t{}\t{}\t{}", ans.txn_id, label, a.body.rows,
                                             a.body.bytes, t.info.display());
        co_await j.state.write_off_context(
            [&] { j.state.put(precommit_key(t, c.chunk_no), mark); });
        if (j.cfg.exit_after_precommit > 0 && ++j.precommits >= j.cfg.exit_after_precommit) {
          spdlog::critical("doris: debug.exit_after_precommit reached: exiting as if killed");
          std::_Exit(137);
        }
        two_phase_verdict v = co_await finish_two_phase(j, *w.http, ans.txn_id, label, true);
        if (!v.done) {
          // Precommitted but not committed: the next run commits it (state store).
          last_error = "commit of precommitted transaction " + std::to_string(ans.txn_id) +
                       " failed: " + v.message;
          break;
        }
        co_await forget_precommit(j, t, c.chunk_no);
      }
      if (ans.status == "Publish Timeout")
        spdlog::info("doris: {}: committed, publish timed out (visible shortly)", what);
      res.ok = true;
      res.rows = a.body.rows;
      res.filtered = static_cast<std::int64_t>(ans.number_filtered_rows);
      res.bytes = a.body.bytes;
      if (res.filtered > 0)
        spdlog::warn("doris: {}: {} rows filtered (max_filter_ratio {}), rejected rows: {}", what,
                     res.filtered, j.cfg.max_filter_ratio, ans.error_url);
      break;
    }
    if (ans.transient()) {
      if (!give_up_or_wait(o.describe())) break;
      continue;
    }
    // A definite failure (bad data, a missing table, an FE error): retrying cannot help.
    last_error = o.describe();
    if (!ans.error_url.empty()) last_error += " (rejected rows: " + ans.error_url + ")";
    break;
  }
  if (!res.ok) {
    res.error = what + ": " + last_error;
    if (failures > j.cfg.retries)
      res.error += " (gave up after " + std::to_string(res.attempts) + " attempts)";
  }
  co_return res;
}

asio::awaitable<void> settle_precommitted(job& j, connectors::doris::http_client& http,
                                          bool commit) {
  const job_status st = j.state.status_snapshot();
  for (const auto& [key, value] : st.kv) {
    if (key.rfind(precommit_prefix, 0) != 0) continue;
    // txn \t label \t rows \t bytes \t schema.table; the key ends with the chunk number
    std::vector<std::string> f;
    std::size_t at = 0;
    for (;;) {
      const std::size_t tab = value.find('\t', at);
      f.push_back(value.substr(at, tab - at));
      if (tab == std::string::npos) break;
      at = tab + 1;
    }
    if (f.size() < 5) {
      j.state.erase(key);
      continue;
    }
    const std::int64_t txn = std::strtoll(f[0].c_str(), nullptr, 10);
    two_phase_verdict v = co_await finish_two_phase(j, http, txn, f[1], commit);
    spdlog::info("doris: {} precommitted transaction {} of {} (label {}): {}",
                 commit ? "committing" : "aborting", txn, f[4], f[1], v.message);
    if (commit && v.done) {
      // The chunk is in: mark it so this run does not load it again.
      const int chunk_no = std::atoi(key.substr(key.rfind('.') + 1).c_str());
      for (auto& t : j.tables)
        if (t->info.display() == f[4])
          j.state.mark_chunk_done(t->info.schema, t->info.name, chunk_no,
                                  std::strtoll(f[2].c_str(), nullptr, 10),
                                  std::strtoll(f[3].c_str(), nullptr, 10), 0);
    }
    if (v.done || v.gone) j.state.erase(key);
  }
}

}  // namespace uringmig::engine::doris
