#include "engine/core/progress.hpp"

#include "codecs/sql_text.hpp"

#include "codecs/pgoutput.hpp"
#include "engine/core/observe/hub.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <ostream>
#include <unordered_map>

namespace uringmig::engine {

namespace pgo = codecs::pgoutput;

namespace {

using clock = std::chrono::steady_clock;

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
}

constexpr double mb = 1e6;

}  // namespace

std::optional<std::chrono::milliseconds> parse_interval(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() &&
         ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.'))
    ++digits;
  if (digits == 0) return std::nullopt;
  char* end = nullptr;
  const std::string number(text.substr(0, digits));
  const double v = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  const auto unit = text.substr(digits);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(v * scale)));
}

namespace {

std::chrono::milliseconds interval_setting(const job_options& opts, const std::string& key,
                                           std::chrono::milliseconds fallback) {
  const auto it = opts.settings.find(key);
  if (it == opts.settings.end()) return fallback;
  const auto v = parse_interval(it->second);
  if (!v) {
    throw usage_error("setting " + key + " = '" + it->second +
                      "' is not an interval (examples: 500ms, 1s, 2m)");
  }
  return *v;
}

int terminal_width() noexcept {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 100;
}

/// At most `width` bytes of `text` made printable, cut on a UTF-8 character boundary.
std::string fit(std::string_view text, std::size_t width) {
  const auto shown = codecs::printable(text);
  const std::string_view s = shown;
  if (s.size() <= width) return shown;
  std::size_t n = width > 0 ? width - 1 : 0;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0U) == 0x80U)
    --n;
  return std::string(s.substr(0, n)) + "~";
}

std::string bar(double fraction, std::size_t width) {
  const auto full = static_cast<std::size_t>(std::clamp(fraction, 0.0, 1.0) * double(width));
  return "[" + std::string(full, '#') + std::string(width - full, '.') + "]";
}

std::string eta(double fraction, double elapsed) {
  if (fraction >= 1) return "0s";
  if (fraction < 0.005 || elapsed <= 0) return "--";
  return format_seconds(elapsed * (1 - fraction) / fraction);
}

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

void write_stderr(std::string_view frame) {
  while (!frame.empty()) {
    const auto n = ::write(STDERR_FILENO, frame.data(), frame.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    frame.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string_view to_string(table_phase p) noexcept {
  switch (p) {
    case table_phase::pending:
      return "pending";
    case table_phase::copying:
      return "copying";
    case table_phase::indexing:
      return "indexing";
    case table_phase::done:
      return "done";
    case table_phase::failed:
      return "failed";
  }
  return "pending";
}

// ---- table_progress / progress ---------------------------------------------------------------

table_progress::table_progress(std::string schema_, std::string name_, std::int64_t bytes_estimate_,
                               std::int64_t rows_estimate_, int chunks_total)
    : schema(std::move(schema_)),
      name(std::move(name_)),
      bytes_estimate(bytes_estimate_),
      rows_estimate(rows_estimate_),
      chunks_total_(chunks_total) {}

void table_progress::add(std::int64_t rows, std::int64_t bytes) noexcept {
  rows_.fetch_add(rows, std::memory_order_relaxed);
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
}

void table_progress::resume_from(int chunks_done, std::int64_t rows, std::int64_t bytes) noexcept {
  chunks_done_.store(chunks_done, std::memory_order_relaxed);
  rows_.store(rows, std::memory_order_relaxed);
  bytes_.store(bytes, std::memory_order_relaxed);
}

void table_progress::set_phase(table_phase p) noexcept {
  if (p == table_phase::copying || p == table_phase::indexing) {
    std::int64_t zero = 0;
    started_ns_.compare_exchange_strong(zero, now_ns(), std::memory_order_relaxed);
  }
  if (p == table_phase::done || p == table_phase::failed) {
    std::int64_t zero = 0;
    finished_ns_.compare_exchange_strong(zero, now_ns(), std::memory_order_relaxed);
  }
  phase_.store(p, std::memory_order_relaxed);
}

double table_progress::active_seconds() const noexcept {
  const auto start = started_ns_.load(std::memory_order_relaxed);
  if (start == 0) return 0;
  auto end = finished_ns_.load(std::memory_order_relaxed);
  if (end == 0) end = now_ns();
  return double(end - start) / 1e9;
}

double table_progress::fraction() const noexcept {
  const auto ph = phase();
  if (ph == table_phase::done) return 1;
  double f = 0;
  if (chunks_total_ > 0) f = std::max(f, double(chunks_done()) / chunks_total_);
  if (rows_estimate > 0) f = std::max(f, double(rows()) / double(rows_estimate));
  if (bytes_estimate > 0) f = std::max(f, double(bytes()) / double(bytes_estimate));
  return std::min(f, 0.99);
}

progress::progress() : started_(clock::now()) {
  observe::the_hub().attach(this);  // --http shows the newest progress while it lives
}

progress::~progress() {
  observe::the_hub().detach(this);
}

table_progress& progress::add_table(std::string schema, std::string name,
                                    std::int64_t bytes_estimate, std::int64_t rows_estimate,
                                    int chunks_total) {
  std::lock_guard lock(mu_);
  return tables_.emplace_back(std::move(schema), std::move(name), bytes_estimate, rows_estimate,
                              chunks_total);
}

table_progress* progress::find(std::string_view schema, std::string_view name) {
  std::lock_guard lock(mu_);
  for (auto& t : tables_) {
    if (t.schema == schema && t.name == name) return &t;
  }
  return nullptr;
}

progress_totals progress::totals() const {
  progress_totals s;
  double weighted = 0;
  double weights = 0;
  {
    std::lock_guard lock(mu_);
    for (const auto& t : tables_) {
      s.rows += t.rows();
      s.bytes += t.bytes();
      s.bytes_estimate += std::max<std::int64_t>(t.bytes_estimate, 0);
      s.chunks_done += t.chunks_done();
      s.chunks_total += t.chunks_total();
      const auto ph = t.phase();
      if (ph == table_phase::done) ++s.tables_done;
      if (ph == table_phase::failed) ++s.tables_failed;
      const double w = double(std::max<std::int64_t>(t.bytes_estimate, 1));
      weighted += w * (ph == table_phase::failed ? 1.0 : t.fraction());
      weights += w;
    }
    s.tables_total = static_cast<int>(tables_.size());
  }
  s.in_flight = in_flight_.load(std::memory_order_relaxed);
  s.fraction = weights > 0 ? weighted / weights : 0;
  return s;
}

void progress::for_each(const std::function<void(const table_progress&)>& f) const {
  std::lock_guard lock(mu_);
  for (const auto& t : tables_)
    f(t);
}

double progress::elapsed_seconds() const noexcept {
  return std::chrono::duration<double>(clock::now() - started_).count();
}

std::int64_t rss_bytes() noexcept {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return 0;
  long long size = 0;
  long long resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return resident * ::sysconf(_SC_PAGESIZE);
}

// ---- reporter ----------------------------------------------------------------------------------

reporter_options make_reporter_options(const job_options& opts) {
  reporter_options o;
  const char* term = std::getenv("TERM");
  o.terminal = ::isatty(STDERR_FILENO) == 1 && (term == nullptr || std::strcmp(term, "dumb") != 0);
  o.stats_interval = interval_setting(opts, "stats.interval", o.stats_interval);
  o.log_interval = interval_setting(opts, "progress.interval", o.log_interval);
  o.redraw_interval = interval_setting(opts, "progress.redraw_interval", o.redraw_interval);
  // Redraws at most ~10 times a second.
  o.redraw_interval = std::max(o.redraw_interval, std::chrono::milliseconds(100));
  if (o.stats_interval.count() > 0) o.stats_csv = opts.state_dir / "stats.csv";
  if (const auto it = opts.settings.find("progress.max_tables"); it != opts.settings.end()) {
    char* end = nullptr;
    const long v = std::strtol(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || v < 1 || v > 1000) {
      throw usage_error("setting progress.max_tables = '" + it->second +
                        "' is not a number from 1 to 1000");
    }
    o.max_table_lines = static_cast<std::size_t>(v);
  }
  return o;
}

/// Samples for rates, owned by the reporter thread.
struct progress_reporter::rates {
  struct sample {
    double t = 0;
    std::int64_t rows = 0;
    std::int64_t bytes = 0;
  };
  /// Bytes per second over the last few seconds of samples.
  struct window {
    std::deque<sample> samples;
    double bytes_per_s = 0;
    void add(const sample& s) {
      samples.push_back(s);
      while (samples.size() > 2 && s.t - samples[1].t >= 5.0)
        samples.pop_front();
      const auto& first = samples.front();
      bytes_per_s = s.t > first.t ? double(s.bytes - first.bytes) / (s.t - first.t) : 0;
    }
  };
  sample csv_last;
  sample log_last;
  window overall;
  // Follow: changes applied at the last CSV line, log line and frame (rates over each's span).
  struct follow_sample {
    double t = 0;
    std::uint64_t changes = 0;
    double rate(double now, std::uint64_t c) {
      const double r = now > t && c >= changes ? double(c - changes) / (now - t) : 0;
      t = now;
      changes = c;
      return r;
    }
  };
  follow_sample follow_csv, follow_log, follow_draw;
  double follow_draw_rate = 0;
  std::unordered_map<const table_progress*, window> tables;
};

progress_reporter::progress_reporter(const progress& p, reporter_options o)
    : p_(p), o_(std::move(o)) {
  if (!o_.terminal_out) o_.terminal_out = write_stderr;
  if (!o_.stats_csv.empty()) {
    csv_ = std::fopen(o_.stats_csv.c_str(), "ae");
    if (csv_ == nullptr) {
      throw job_error("cannot write the stats file '" + o_.stats_csv.string() + "': " +
                      std::strerror(errno) + " (pass --state-dir with a writable directory)");
    }
    if (std::ftell(csv_) == 0) {
      std::fputs(
          "timestamp,elapsed_s,rows,bytes,rows_per_s,mb_per_s,chunks_in_flight,chunks_done,"
          "chunks_total,rss_mb,applied_lsn,lag_bytes,lag_s,apply_per_s,apply_queue\n",
          csv_);
      std::fflush(csv_);
    }
  }
  thread_ = std::thread([this] { loop(); });
}

progress_reporter::~progress_reporter() {
  stop();
}

void progress_reporter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (csv_ != nullptr) {
    std::fclose(csv_);
    csv_ = nullptr;
  }
}

void progress_reporter::loop() {
  rates r;
  // Resumed tables start with what earlier runs copied: rates count only this run's work.
  const auto start = p_.totals();
  r.csv_last = r.log_last = {p_.elapsed_seconds(), start.rows, start.bytes};
  r.overall.add(r.csv_last);

  const auto advance = [](clock::time_point next, std::chrono::milliseconds every,
                          clock::time_point now) {
    next += every;
    return next <= now ? now + every : next;
  };
  const auto begin = clock::now();
  auto next_csv = begin + o_.stats_interval;
  auto next_draw = begin;
  auto next_log = begin + o_.log_interval;
  const bool logging = !o_.terminal && o_.log_interval.count() > 0;

  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto wake = clock::time_point::max();
    if (csv_ != nullptr) wake = std::min(wake, next_csv);
    if (o_.terminal) wake = std::min(wake, next_draw);
    if (logging) wake = std::min(wake, next_log);
    if (wake == clock::time_point::max()) {
      cv_.wait(lock, [this] { return stopping_; });
    } else {
      cv_.wait_until(lock, wake, [this] { return stopping_; });
    }
    if (stopping_) break;
    lock.unlock();
    const auto now = clock::now();
    if (csv_ != nullptr && now >= next_csv) {
      write_csv_line(r);
      next_csv = advance(next_csv, o_.stats_interval, now);
    }
    if (o_.terminal && now >= next_draw) {
      draw(r, false);
      next_draw = now + o_.redraw_interval;
    }
    if (logging && now >= next_log) {
      log_line(r);
      next_log = advance(next_log, o_.log_interval, now);
    }
    lock.lock();
  }
  lock.unlock();
  if (csv_ != nullptr) write_csv_line(r);
  if (o_.terminal) draw(r, true);
}

void progress_reporter::write_csv_line(rates& r) {
  const auto s = p_.totals();
  const double t = p_.elapsed_seconds();
  const double dt = t - r.csv_last.t;
  const double rows_per_s = dt > 0 ? double(s.rows - r.csv_last.rows) / dt : 0;
  const double mb_per_s = dt > 0 ? double(s.bytes - r.csv_last.bytes) / dt / mb : 0;
  r.csv_last = {t, s.rows, s.bytes};
  auto line = fmt::format("{},{:.3f},{},{},{:.1f},{:.3f},{},{},{},{:.1f},", utc_timestamp(), t,
                          s.rows, s.bytes, rows_per_s, mb_per_s, s.in_flight, s.chunks_done,
                          s.chunks_total, double(rss_bytes()) / mb);
  const follow_progress& f = p_.follow();
  if (f.active.load(std::memory_order_relaxed)) {
    const auto changes = f.changes.load(std::memory_order_relaxed);
    line +=
        fmt::format("{},{},{:.3f},{:.1f},{}\n", pgo::format_lsn(f.applied_lsn.load()),
                    f.lag_bytes.load(std::memory_order_relaxed),
                    double(f.lag_ms.load(std::memory_order_relaxed)) / 1000,
                    r.follow_csv.rate(t, changes), f.queued_txns.load(std::memory_order_relaxed));
  } else {
    line += ",,,,\n";
  }
  std::fputs(line.c_str(), csv_);
  std::fflush(csv_);
}

void progress_reporter::log_line(rates& r) {
  const auto s = p_.totals();
  const double t = p_.elapsed_seconds();
  const double dt = t - r.log_last.t;
  const double rows_per_s = dt > 0 ? double(s.rows - r.log_last.rows) / dt : 0;
  const double mb_per_s = dt > 0 ? double(s.bytes - r.log_last.bytes) / dt / mb : 0;
  r.log_last = {t, s.rows, s.bytes};
  double eta_s = -1;
  if (s.fraction >= 0.005 && s.fraction < 1) eta_s = t * (1 - s.fraction) / s.fraction;
  spdlog::info(
      "progress "
      "{{\"elapsed_s\":{:.1f},\"rows\":{},\"bytes\":{},\"mb\":{:.1f},\"rows_per_s\":{:.0f},"
      "\"mb_per_s\":{:.2f},\"percent\":{:.1f},\"eta_s\":{:.0f},\"chunks_done\":{},"
      "\"chunks_total\":{},\"chunks_in_flight\":{},\"tables_done\":{},\"tables_failed\":{},"
      "\"tables_total\":{},\"rss_mb\":{:.1f}}}",
      t, s.rows, s.bytes, double(s.bytes) / mb, rows_per_s, mb_per_s, s.fraction * 100, eta_s,
      s.chunks_done, s.chunks_total, s.in_flight, s.tables_done, s.tables_failed, s.tables_total,
      double(rss_bytes()) / mb);
  const follow_progress& f = p_.follow();
  if (f.active.load(std::memory_order_relaxed)) {
    const auto changes = f.changes.load(std::memory_order_relaxed);
    spdlog::info(
        "follow {{\"applied_lsn\":\"{}\",\"lag_bytes\":{},\"lag_s\":{:.1f},\"changes\":{},"
        "\"apply_per_s\":{:.0f},\"apply_queue\":{}}}",
        pgo::format_lsn(f.applied_lsn.load()), f.lag_bytes.load(std::memory_order_relaxed),
        double(f.lag_ms.load(std::memory_order_relaxed)) / 1000, changes,
        r.follow_log.rate(t, changes), f.queued_txns.load(std::memory_order_relaxed));
  }
}

void progress_reporter::draw(rates& r, bool erase_only) {
  std::string frame;
  if (drawn_lines_ > 0) frame += fmt::format("\x1b[{}F", drawn_lines_);  // to the first bar line
  if (erase_only) {
    frame += "\x1b[J";
    drawn_lines_ = 0;
    o_.terminal_out(frame);
    return;
  }
  const auto width = static_cast<std::size_t>(terminal_width() - 1);  // never wrap
  const double t = p_.elapsed_seconds();

  struct view {
    const table_progress* tp;
    double rate;
  };
  std::vector<view> active;
  int pending = 0;
  int finished = 0;
  p_.for_each([&](const table_progress& tp) {
    const auto ph = tp.phase();
    if (ph == table_phase::copying || ph == table_phase::indexing) {
      auto& w = r.tables[&tp];
      w.add({t, tp.rows(), tp.bytes()});
      active.push_back({&tp, w.bytes_per_s});
    } else if (ph == table_phase::pending) {
      ++pending;
    } else {
      ++finished;
    }
  });
  std::stable_sort(active.begin(), active.end(),
                   [](const view& a, const view& b) { return a.rate > b.rate; });

  // ~95 columns: name, bar, percent, rows, bytes, rate, ETA, chunks.
  const auto line = [](std::string_view label, double f, std::int64_t rows, std::int64_t bytes,
                       double rate, std::string_view eta_text) {
    return fmt::format("{:<24} {} {:>3.0f}% {:>6} rows {:>9} {:>9}/s ETA {:>6}", fit(label, 24),
                       bar(f, 12), f * 100, format_count(rows), format_bytes(bytes),
                       format_bytes(static_cast<std::int64_t>(rate)), eta_text);
  };
  std::vector<std::string> lines;
  const auto finish = [&] {
    for (const auto& l : lines) {
      frame += "\x1b[2K";
      frame += fit(l, width);
      frame += '\n';
    }
    frame += "\x1b[J";  // anything left below from a taller frame
    drawn_lines_ = lines.size();
    o_.terminal_out(frame);
  };
  const follow_progress& fp = p_.follow();
  if (fp.active.load(std::memory_order_relaxed)) {
    // The follow phase: no tables copying, one line of lag, rate and queue.
    const auto changes = fp.changes.load(std::memory_order_relaxed);
    if (t - r.follow_draw.t >= 1.0) r.follow_draw_rate = r.follow_draw.rate(t, changes);
    lines.push_back(fmt::format(
        "following: applied to {}, lag {} / {}, {}/s, {} txns queued; {} changes; {} elapsed",
        pgo::format_lsn(fp.applied_lsn.load()),
        format_bytes(fp.lag_bytes.load(std::memory_order_relaxed)),
        format_seconds(double(fp.lag_ms.load(std::memory_order_relaxed)) / 1000),
        format_count(static_cast<std::int64_t>(r.follow_draw_rate)),
        fp.queued_txns.load(std::memory_order_relaxed), format_count(std::int64_t(changes)),
        format_seconds(t)));
    finish();
    return;
  }
  const std::size_t shown = std::min(active.size(), o_.max_table_lines);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& tp = *active[i].tp;
    const double f = tp.fraction();
    lines.push_back(line(tp.schema + "." + tp.name, f, tp.rows(), tp.bytes(), active[i].rate,
                         eta(f, tp.active_seconds())) +
                    fmt::format(" {}/{}{}", tp.chunks_done(), tp.chunks_total(),
                                tp.phase() == table_phase::indexing ? " indexing" : ""));
  }
  if (active.size() > shown) lines.push_back(fmt::format("  ... {} more", active.size() - shown));
  const auto s = p_.totals();
  r.overall.add({t, s.rows, s.bytes});
  lines.push_back(line(fmt::format("total {}/{} tables", s.tables_done, s.tables_total), s.fraction,
                       s.rows, s.bytes, r.overall.bytes_per_s, eta(s.fraction, t)));
  lines.push_back(fmt::format(
      "  {} copying, {} pending, {} finished; chunks {}/{}, {} in flight; {} elapsed; rss {}",
      active.size(), pending, finished, s.chunks_done, s.chunks_total, s.in_flight,
      format_seconds(t), format_bytes(rss_bytes())));
  finish();
}

// ---- summary and formatting --------------------------------------------------------------------

void print_summary(std::ostream& out, const std::vector<table_summary>& rows) {
  table_summary total;
  int failed = 0;
  for (const auto& r : rows) {
    total.rows += r.rows;
    total.bytes += r.bytes;
    if (r.status == "failed") ++failed;
  }
  const auto label = fmt::format("total ({} table{}{})", rows.size(), rows.size() == 1 ? "" : "s",
                                 failed > 0 ? fmt::format(", {} failed", failed) : "");
  std::size_t w = label.size();
  for (const auto& r : rows)
    w = std::max(w, std::min<std::size_t>(codecs::printable(r.table).size(), 48));
  out << fmt::format("{:<{}}  {:<9} {:>12} {:>10} {:>8} {:>8}\n", "table", w, "status", "rows",
                     "MB", "copy", "index");
  for (const auto& r : rows) {
    out << fmt::format("{:<{}}  {:<9} {:>12} {:>10.1f} {:>8} {:>8}\n", fit(r.table, 48), w,
                       r.status, r.rows, double(r.bytes) / mb, format_seconds(r.copy_seconds),
                       format_seconds(r.index_seconds));
    if (!r.error.empty()) out << "  error: " << codecs::printable(r.error) << '\n';
  }
  // Tables copy in parallel: a sum of their times is no wall time, so none is shown.
  out << fmt::format("{:<{}}  {:<9} {:>12} {:>10.1f}\n", label, w, "", total.rows,
                     double(total.bytes) / mb);
}

}  // namespace uringmig::engine
