#pragma once

#include "engine/core/job.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// Live progress of a job. The engine bumps atomics from any io thread (cheap, lock-free);
// a progress_reporter reads them on its own std::thread, so drawing, logging and the stats CSV
// never block an io_context. Sizes are decimal: 1 MB = 1 000 000 bytes.

namespace uringmig::engine {

enum class table_phase { pending, copying, indexing, done, failed };

std::string_view to_string(table_phase p) noexcept;

/// Counters of one table. Written with relaxed atomics from any thread; owned by `progress`.
class table_progress {
 public:
  table_progress(std::string schema, std::string name, std::int64_t bytes_estimate,
                 std::int64_t rows_estimate, int chunks_total);

  const std::string schema;
  const std::string name;
  const std::int64_t bytes_estimate;  // from the plan; COPY bytes may differ from it
  const std::int64_t rows_estimate;   // <= 0: unknown

  /// Data as it streams (bytes per buffer, rows when a chunk's COPY reports them). A chunk that
  /// is redone should take back what it counted: add(-rows, -bytes).
  void add(std::int64_t rows, std::int64_t bytes) noexcept;
  void chunk_done() noexcept { chunks_done_.fetch_add(1, std::memory_order_relaxed); }
  /// Resume: what earlier runs already copied (shown, but not counted in rates).
  void resume_from(int chunks_done, std::int64_t rows, std::int64_t bytes) noexcept;
  /// copying starts the table's clock; done / failed stop it.
  void set_phase(table_phase p) noexcept;

  std::int64_t rows() const noexcept { return rows_.load(std::memory_order_relaxed); }
  std::int64_t bytes() const noexcept { return bytes_.load(std::memory_order_relaxed); }
  int chunks_done() const noexcept { return chunks_done_.load(std::memory_order_relaxed); }
  int chunks_total() const noexcept { return chunks_total_; }
  table_phase phase() const noexcept { return phase_.load(std::memory_order_relaxed); }
  /// Seconds in copying/indexing so far (0 before it started).
  double active_seconds() const noexcept;
  /// 0..1: the best of chunks, rows and bytes against the plan; below 1 until done.
  double fraction() const noexcept;

 private:
  std::atomic<std::int64_t> rows_{0};
  std::atomic<std::int64_t> bytes_{0};
  std::atomic<int> chunks_done_{0};
  const int chunks_total_;
  std::atomic<table_phase> phase_{table_phase::pending};
  std::atomic<std::int64_t> started_ns_{0};   // steady_clock; 0: not started
  std::atomic<std::int64_t> finished_ns_{0};  // 0: still running
};

/// The follow phase of an online job: written by the follower, read by the reporter (relaxed
/// atomics; each value on its own is what matters).
struct follow_progress {
  std::atomic<bool> active{false};
  std::atomic<std::uint64_t> applied_lsn{0};
  std::atomic<std::int64_t> lag_bytes{0};
  std::atomic<std::int64_t> lag_ms{0};
  std::atomic<std::uint64_t> changes{0};      // applied by this follower since it started
  std::atomic<std::uint64_t> queued_txns{0};  // received, not yet committed on the target
};

/// Sums over every table at one moment.
struct progress_totals {
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  std::int64_t bytes_estimate = 0;
  int chunks_done = 0;
  int chunks_total = 0;
  int tables_done = 0;
  int tables_failed = 0;
  int tables_total = 0;
  int in_flight = 0;
  double fraction = 0;  // bytes-estimate-weighted mean of the tables' fractions
};

/// The job's live progress. Thread-safe; tables keep their address for its lifetime.
class progress {
 public:
  /// Attaches itself to the process's observe hub (--http) until destroyed.
  progress();
  ~progress();
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

  /// Registers a table (plan order); the reference stays valid as long as this object.
  table_progress& add_table(std::string schema, std::string name, std::int64_t bytes_estimate,
                            std::int64_t rows_estimate, int chunks_total);
  /// nullptr when not registered.
  table_progress* find(std::string_view schema, std::string_view name);

  /// Around each chunk's copy: the in-flight count.
  void chunk_started() noexcept { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void chunk_finished() noexcept { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

  progress_totals totals() const;
  /// Calls `f(const table_progress&)` for each table in plan order, under the registry lock.
  void for_each(const std::function<void(const table_progress&)>& f) const;
  double elapsed_seconds() const noexcept;
  follow_progress& follow() noexcept { return follow_; }
  const follow_progress& follow() const noexcept { return follow_; }

 private:
  std::chrono::steady_clock::time_point started_;
  follow_progress follow_;
  std::atomic<int> in_flight_{0};
  mutable std::mutex mu_;
  std::deque<table_progress> tables_;  // deque: emplace_back keeps addresses
};

/// Resident set size of this process (from /proc/self/statm); 0 if unreadable.
std::int64_t rss_bytes() noexcept;

struct reporter_options {
  bool terminal = false;                           // draw bars; else JSON lines via spdlog
  std::chrono::milliseconds redraw_interval{100};  // terminal
  std::chrono::milliseconds log_interval{10000};   // no terminal; 0: never
  std::filesystem::path stats_csv;                 // empty: no CSV
  std::chrono::milliseconds stats_interval{1000};
  std::size_t max_table_lines = 8;  // the most active tables; the rest in one line
  /// Where the terminal frames go; default: write(2) on stderr, one call per frame.
  std::function<void(std::string_view)> terminal_out;
};

/// "12.5" -> 12.5 s, "500ms", "2m", "1h"; nullopt when malformed or negative.
std::optional<std::chrono::milliseconds> parse_interval(std::string_view text);

/// From the job: terminal = stderr is a TTY; stats CSV `<state-dir>/stats.csv`; settings
/// `stats.interval`, `progress.interval` (log lines), `progress.redraw_interval` (durations:
/// "500ms", "1s", "2m", or plain seconds) and `progress.max_tables`. Throws usage_error for a bad
/// value, so call it before touching anything.
reporter_options make_reporter_options(const job_options& opts);

/// Reports `p` on its own thread until stop(): terminal bars or periodic JSON log lines, and the
/// stats CSV (header when the file is new; one line per interval and a last one at stop).
class progress_reporter {
 public:
  /// Starts the thread. `p` must outlive this object. Throws job_error if the CSV cannot be
  /// opened.
  progress_reporter(const progress& p, reporter_options o);
  ~progress_reporter();
  progress_reporter(const progress_reporter&) = delete;
  progress_reporter& operator=(const progress_reporter&) = delete;

  /// Idempotent. Writes the last CSV line, erases the bars, joins; prints nothing afterwards.
  void stop();

 private:
  struct rates;
  void loop();
  void draw(rates& r, bool erase_only);
  void write_csv_line(rates& r);
  void log_line(rates& r);

  const progress& p_;
  reporter_options o_;
  std::FILE* csv_ = nullptr;
  std::size_t drawn_lines_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

/// One line of the final summary.
struct table_summary {
  std::string table;  // schema.name
  std::string status;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  double copy_seconds = 0;
  double index_seconds = 0;
  std::string error;  // shown under the table for failed ones
};

/// The final summary table: per table rows, MB, copy time, index time, status; then totals.
void print_summary(std::ostream& out, const std::vector<table_summary>& rows);

/// "512 B", "12.3 kB", "151.2 MB", "1.24 GB".
std::string format_bytes(std::int64_t bytes);
/// "0.4s", "12.3s", "4m05s", "1h02m".
std::string format_seconds(double seconds);
/// "999", "12.3k", "1.23M".
std::string format_count(std::int64_t n);

}  // namespace uringmig::engine
