#include "engine/core/observe/snapshot.hpp"

#include "codecs/json_text.hpp"
#include "codecs/pgoutput.hpp"
#include "engine/core/observe/hub.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/state_store.hpp"
#include "engine/core/status.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace uringmig::engine::observe {

struct live_table {
  std::string schema;
  std::string name;
  table_phase phase = table_phase::pending;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  std::int64_t bytes_estimate = 0;
  std::int64_t rows_estimate = 0;
  int chunks_done = 0;
  int chunks_total = 0;
  double fraction = 0;
  double active_seconds = 0;
};

struct live_state {
  bool attached = false;
  std::vector<live_table> tables;
  progress_totals totals;
  double elapsed = 0;
  bool follow_active = false;
  std::uint64_t applied_lsn = 0;
  std::int64_t lag_bytes = 0;
  std::int64_t lag_ms = 0;
  std::uint64_t changes = 0;
  std::uint64_t queued = 0;
};

namespace {

using clock = std::chrono::steady_clock;
// The state store (a shared one: every worker's rows) is read at most this often; live counters
// on every request.
constexpr auto stored_max_age = std::chrono::milliseconds(1000);
// Rates over this window.
constexpr auto rate_window = std::chrono::seconds(5);

std::string num(double v) {
  return std::isfinite(v) ? fmt::format("{:.3f}", v) : "null";
}

std::string str(std::string_view s) {
  return codecs::json_string(s);
}

/// The live figures of `p` now.
live_state capture(const progress& p) {
  live_state s;
  s.attached = true;
  p.for_each([&](const table_progress& t) {
    s.tables.push_back({t.schema, t.name, t.phase(), t.rows(), t.bytes(), t.bytes_estimate,
                        t.rows_estimate, t.chunks_done(), t.chunks_total(), t.fraction(),
                        t.active_seconds()});
  });
  s.totals = p.totals();
  s.elapsed = p.elapsed_seconds();
  const auto& f = p.follow();
  s.follow_active = f.active.load(std::memory_order_relaxed);
  s.applied_lsn = f.applied_lsn.load(std::memory_order_relaxed);
  s.lag_bytes = f.lag_bytes.load(std::memory_order_relaxed);
  s.lag_ms = f.lag_ms.load(std::memory_order_relaxed);
  s.changes = f.changes.load(std::memory_order_relaxed);
  s.queued = f.queued_txns.load(std::memory_order_relaxed);
  return s;
}

std::string derive_phase(const live_state& s) {
  if (auto explicit_phase = the_hub().phase(); !explicit_phase.empty()) return explicit_phase;
  if (s.follow_active) return "follow";
  bool copying = false;
  bool indexing = false;
  bool pending = false;
  for (const auto& t : s.tables) {
    copying = copying || t.phase == table_phase::copying;
    indexing = indexing || t.phase == table_phase::indexing;
    pending = pending || t.phase == table_phase::pending;
  }
  if (copying || (pending && s.totals.chunks_done > 0)) return "copy";
  if (indexing) return "indexes";
  if (!s.tables.empty() && !pending) return "finishing";
  return "starting";
}

std::string table_label(const live_table& t) {
  return t.schema + "." + t.name;
}

/// Prometheus label value: backslash, quote and newline escaped.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void write_histogram(std::string& out, std::string_view name, std::string_view help,
                     const histogram& h) {
  header(out, name, "histogram", help);
  const auto s = h.snapshot();
  for (std::size_t i = 0; i < histogram::bounds.size(); ++i)
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, histogram::bounds[i], s.cumulative[i]);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, s.count, name,
                     num(s.sum), name, s.count);
}

}  // namespace

struct snapshot_builder::frozen {
  live_state live;
};

snapshot_builder::snapshot_builder(std::filesystem::path state_dir, std::string state_url,
                                   std::string job)
    : state_dir_(std::move(state_dir)),
      state_url_(std::move(state_url)),
      job_(std::move(job)),
      stored_(std::make_unique<job_status>()) {
  the_hub().on_last_detach([this](const progress& p) {
    auto f = std::make_unique<frozen>(frozen{capture(p)});
    std::lock_guard lk(final_mu_);
    final_ = std::move(f);
  });
}

snapshot_builder::~snapshot_builder() {
  the_hub().on_last_detach({});
}

live_state snapshot_builder::read_live() const {
  std::optional<live_state> now;
  the_hub().with_progress([&](const progress* p) {
    if (p != nullptr) now = capture(*p);
  });
  if (now) return std::move(*now);
  // Between the end of the job's work and the server's stop: its last picture.
  std::lock_guard lk(final_mu_);
  return final_ ? final_->live : live_state{};
}

const job_status& snapshot_builder::stored() {
  const auto now = clock::now();
  if (stored_at_ != clock::time_point{} && now - stored_at_ < stored_max_age) return *stored_;
  stored_at_ = now;
  try {
    if (!store_) {
      if (auto s = state_store::open_existing(state_location{state_dir_, state_url_, job_}))
        store_ = std::make_unique<state_store>(std::move(*s));
    }
    if (store_) *stored_ = store_->status_snapshot();
  } catch (const std::exception&) {
    // A state store being created or replaced: the next read tries again.
    store_.reset();
  }
  return *stored_;
}

std::string snapshot_builder::phase() {
  return derive_phase(read_live());
}

std::string snapshot_builder::live_tables_json() {
  const live_state live = read_live();
  const job_status& st = stored();
  std::map<std::string, const table_row*> rows;
  for (const auto& r : st.tables)
    rows[r.schema + "." + r.name] = &r;
  std::string j = "[";
  for (std::size_t i = 0; i < live.tables.size(); ++i) {
    const auto& t = live.tables[i];
    const auto it = rows.find(table_label(t));
    const table_row* r = it == rows.end() ? nullptr : it->second;
    if (i > 0) j += ',';
    j += fmt::format(
        "{{\"schema\":{},\"name\":{},\"state\":{},\"rows\":{},\"bytes\":{},\"rows_estimate\":{},"
        "\"bytes_planned\":{},\"chunks_done\":{},\"chunks_total\":{},\"chunks_failed\":{},"
        "\"fraction\":{},\"seconds\":{},\"rows_per_second\":{},\"error\":{}}}",
        str(t.schema), str(t.name), str(to_string(t.phase)), t.rows, t.bytes, t.rows_estimate,
        t.bytes_estimate, t.chunks_done, t.chunks_total, r ? r->chunks_failed : 0, num(t.fraction),
        num(t.active_seconds), num(t.active_seconds > 0 ? double(t.rows) / t.active_seconds : 0),
        r && !r->error.empty() ? str(r->error) : "null");
  }
  return j + "]";
}

std::string snapshot_builder::tables() {
  return "{\"tables\":" + live_tables_json() + "}";
}

std::string snapshot_builder::status() {
  const live_state live = read_live();
  const job_status& st = stored();
  std::string j = status_json(st, state_dir_, true);
  j.pop_back();  // the closing brace: the live fields follow

  const auto now = clock::now();
  samples_.push_back({now, live.totals.rows, live.totals.bytes, live.changes});
  while (samples_.size() > 2 && now - samples_[1].at >= rate_window)
    samples_.pop_front();
  double rows_rate = 0;
  double bytes_rate = 0;
  double apply_rate = 0;
  const double dt = std::chrono::duration<double>(now - samples_.front().at).count();
  if (dt > 0.2) {
    rows_rate = double(live.totals.rows - samples_.front().rows) / dt;
    bytes_rate = double(live.totals.bytes - samples_.front().bytes) / dt;
    apply_rate = double(live.changes - samples_.front().changes) / dt;
  }
  const std::int64_t left = live.totals.bytes_estimate - live.totals.bytes;
  const double eta = bytes_rate > 0 && left > 0 ? double(left) / bytes_rate
                                                : std::numeric_limits<double>::quiet_NaN();
  j += fmt::format(
      ",\"api_version\":1,\"run_id\":{},\"phase\":{},\"paused\":{},\"elapsed_seconds\":{},"
      "\"progress\":{{\"rows\":{},\"bytes\":{},\"bytes_planned\":{},\"rows_per_second\":{},"
      "\"bytes_per_second\":{},\"eta_seconds\":{},\"fraction\":{},\"chunks_done\":{},"
      "\"chunks_total\":{},\"tables_done\":{},\"tables_failed\":{},\"tables_total\":{},"
      "\"in_flight\":{}}}",
      st.last_run ? std::to_string(st.last_run->id) : "null", str(derive_phase(live)),
      the_hub().paused() ? "true" : "false", num(live.elapsed), live.totals.rows, live.totals.bytes,
      live.totals.bytes_estimate, num(rows_rate), num(bytes_rate), num(eta),
      num(live.totals.fraction), live.totals.chunks_done, live.totals.chunks_total,
      live.totals.tables_done, live.totals.tables_failed, live.totals.tables_total,
      live.totals.in_flight);
  j += fmt::format(
      ",\"cdc\":{{\"active\":{},\"applied_lsn\":{},\"lag_bytes\":{},\"lag_seconds\":{},"
      "\"apply_rate\":{},\"queue\":{}}}",
      live.follow_active ? "true" : "false",
      live.applied_lsn == 0 ? "null" : str(codecs::pgoutput::format_lsn(live.applied_lsn)),
      live.lag_bytes, num(double(live.lag_ms) / 1000.0), num(apply_rate), live.queued);
  j += ",\"table_progress\":" + live_tables_json() + "}";
  return j;
}

std::string snapshot_builder::metrics() {
  const live_state live = read_live();
  const job_status& st = stored();
  std::map<std::string, int> failed;
  for (const auto& r : st.tables)
    failed[r.schema + "." + r.name] = r.chunks_failed;
  // Counters never go back: a redone chunk takes back its rows in the progress, not here.
  const auto counter = [&](const std::string& key, std::int64_t v) {
    auto& hw = high_water_[key];
    hw = std::max(hw, v);
    return hw;
  };
  struct per_label {
    std::int64_t rows = 0, bytes = 0, done = 0, failed = 0;
  };
  std::vector<std::pair<std::string, per_label>> by_label;
  per_label other;
  for (std::size_t i = 0; i < live.tables.size(); ++i) {
    const auto& t = live.tables[i];
    const std::string name = table_label(t);
    per_label v{counter("rows " + name, t.rows), counter("bytes " + name, t.bytes),
                counter("done " + name, t.chunks_done), counter("failed " + name, failed[name])};
    if (i < max_table_labels) {
      by_label.emplace_back(name, v);
    } else {
      other.rows += v.rows;
      other.bytes += v.bytes;
      other.done += v.done;
      other.failed += v.failed;
    }
  }
  if (live.tables.size() > max_table_labels) by_label.emplace_back("_other", other);

  std::string out;
  header(out, "uringmig_rows_total", "counter", "Rows copied per table.");
  for (const auto& [n, v] : by_label)
    out += fmt::format("uringmig_rows_total{{table=\"{}\"}} {}\n", label(n), v.rows);
  header(out, "uringmig_bytes_total", "counter", "Bytes copied per table.");
  for (const auto& [n, v] : by_label)
    out += fmt::format("uringmig_bytes_total{{table=\"{}\"}} {}\n", label(n), v.bytes);
  header(out, "uringmig_chunks_total", "counter", "Chunks finished per table and outcome.");
  for (const auto& [n, v] : by_label) {
    out +=
        fmt::format("uringmig_chunks_total{{table=\"{}\",state=\"done\"}} {}\n", label(n), v.done);
    out += fmt::format("uringmig_chunks_total{{table=\"{}\",state=\"failed\"}} {}\n", label(n),
                       v.failed);
  }
  header(out, "uringmig_retries_total", "counter", "Retried attempts per reason.");
  auto retries = the_hub().retries();
  retries.try_emplace("chunk", 0);
  retries.try_emplace("cdc_reconnect", 0);
  for (const auto& [reason, n] : retries)
    out += fmt::format("uringmig_retries_total{{reason=\"{}\"}} {}\n", label(reason), n);
  header(out, "uringmig_phase", "gauge", "1 for the job's current phase.");
  const std::string now = derive_phase(live);
  std::vector<std::string> phases = {"starting", "copy",     "indexes", "finishing",
                                     "follow",   "stopping", "done",    "failed"};
  if (std::find(phases.begin(), phases.end(), now) == phases.end()) phases.push_back(now);
  for (const auto& p : phases)
    out += fmt::format("uringmig_phase{{phase=\"{}\"}} {}\n", label(p), p == now ? 1 : 0);
  header(out, "uringmig_paused", "gauge", "1 while paused over the HTTP API.");
  out += fmt::format("uringmig_paused {}\n", the_hub().paused() ? 1 : 0);
  header(out, "uringmig_cdc_lag_bytes", "gauge", "WAL bytes the target is behind the source.");
  out += fmt::format("uringmig_cdc_lag_bytes {}\n", live.lag_bytes);
  header(out, "uringmig_cdc_lag_seconds", "gauge", "Age of the oldest change not applied yet.");
  out += fmt::format("uringmig_cdc_lag_seconds {}\n", num(double(live.lag_ms) / 1000.0));
  header(out, "uringmig_cdc_apply_queue", "gauge",
         "Source transactions received, not yet committed on the target.");
  out += fmt::format("uringmig_cdc_apply_queue {}\n", live.queued);
  header(out, "uringmig_rss_bytes", "gauge", "Resident memory of the process.");
  out += fmt::format("uringmig_rss_bytes {}\n", rss_bytes());
  write_histogram(out, "uringmig_chunk_duration_seconds", "Time to copy one chunk.",
                  the_hub().chunk_seconds());
  write_histogram(out, "uringmig_target_transaction_duration_seconds",
                  "Time of one CDC target transaction, from its first statement to its commit.",
                  the_hub().txn_seconds());
  return out;
}

}  // namespace uringmig::engine::observe
