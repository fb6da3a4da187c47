#pragma once

// What `uringmig top` shows, read from the job's status document: the JSON of
// `uringmig status --json` (state-store mode) or of the job's `GET /api/v1/status` (which extends
// it with live fields). Pure: no I/O.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::cli {

struct top_table {
  std::string name;    // schema.table, printable
  std::string status;  // pending | copying | copied | indexing | done | failed
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  int chunks_done = 0;
  int chunks_total = 0;
  std::optional<double> fraction;  // the API's live done fraction (rows inside chunks too)
  bool failed = false;
};

/// A worker of a job on a shared state (the document's "workers").
struct top_worker {
  std::string name;   // printable
  std::string state;  // alive | dead | done | failed
  bool alive = false;
  int chunks_done = 0;
  std::int64_t rows = 0;
  double rows_per_second = 0;
  std::string holds;  // "public.t #3, ..." (the chunks it holds now); "" for none
};

struct top_snapshot {
  std::string run;    // "#3 run --preset bulk", empty when no run is recorded
  std::string state;  // the run's state: running, done, failed, interrupted, stopped ...
  std::string phase;  // copy, indexes, follow, ... or the run's state once it ended
  bool live = false;  // a job holds the state directory (or serves the API) now
  bool paused = false;
  double elapsed_seconds = 0;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  int chunks_done = 0;
  int chunks_total = 0;
  int tables_done = 0;
  std::optional<double> fraction;         // the API's live done fraction
  std::optional<double> rows_per_second;  // from the document; else top measures it
  std::optional<double> bytes_per_second;
  std::optional<std::int64_t> lag_bytes;
  std::optional<double> lag_seconds;
  std::string message;
  std::vector<top_table> tables;
  std::vector<top_worker> workers;  // a shared state's, when the document has them

  /// Done fraction in [0, 1]: the API's, else chunks done over chunks planned (0 before a plan
  /// exists).
  double progress() const noexcept;
};

/// Parses a status document; nullopt and `error` (one line) when it is not one.
std::optional<top_snapshot> parse_status_document(std::string_view json, std::string& error);

/// A log line from the job's JSON log (`{"ts":..,"level":..,"msg":..}`) in the shape top shows,
/// "12:00:01 info  copied public.t" (time of day UTC);
/// nullopt for a line that is not one.
std::optional<std::string> format_log_json(std::string_view json_line);

/// Rows/s and bytes/s over a sliding window of snapshots (the state store holds no rates).
class rate_meter {
 public:
  explicit rate_meter(double window_seconds = 5.0) : window_(window_seconds) {}
  /// Adds a sample at `now` (seconds, monotonic).
  void add(double now, std::int64_t rows, std::int64_t bytes);
  std::optional<double> rows_per_second() const;
  std::optional<double> bytes_per_second() const;

 private:
  struct sample {
    double t;
    std::int64_t rows;
    std::int64_t bytes;
  };
  std::optional<double> rate(std::int64_t sample::*field) const;
  double window_;
  std::deque<sample> samples_;
};

}  // namespace uringmig::cli
