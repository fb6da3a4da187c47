#pragma once

// The documents --http serves, built from one source: the job's live progress (through the
// hub) and its state store. The status document is `uringmig status --json`'s object with the
// live fields added; the metrics are the same figures in Prometheus' text format.

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace uringmig::engine {
class state_store;
struct job_status;
}  // namespace uringmig::engine

namespace uringmig::engine::observe {

struct live_state;

/// Tables beyond this many get the metrics' table label "_other" (plan order).
inline constexpr std::size_t max_table_labels = 100;

/// Builds the documents; not thread-safe (the HTTP server's thread owns it).
class snapshot_builder {
 public:
  /// The job's state: `state_dir`'s state.db, or with `state_url` the job `job` in that shared
  /// state database (its workers included).
  explicit snapshot_builder(std::filesystem::path state_dir, std::string state_url = {},
                            std::string job = {});
  ~snapshot_builder();
  snapshot_builder(const snapshot_builder&) = delete;
  snapshot_builder& operator=(const snapshot_builder&) = delete;

  /// GET /api/v1/status and every WebSocket push.
  std::string status();
  /// GET /api/v1/tables: {"tables":[...]} with the live per-table fields.
  std::string tables();
  /// GET /metrics.
  std::string metrics();
  /// The phase now (cheap: no state store read); a change is pushed to the WebSocket at once.
  std::string phase();

 private:
  struct sample {
    std::chrono::steady_clock::time_point at;
    std::int64_t rows = 0;
    std::int64_t bytes = 0;
    std::uint64_t changes = 0;
  };
  struct frozen;
  const job_status& stored();
  std::string live_tables_json();
  /// The attached progress now, else the last picture of the one that detached last.
  live_state read_live() const;

  std::filesystem::path state_dir_;
  std::string state_url_;
  std::string job_;
  std::unique_ptr<state_store> store_;
  std::unique_ptr<job_status> stored_;
  std::chrono::steady_clock::time_point stored_at_{};
  std::deque<sample> samples_;
  std::map<std::string, std::int64_t> high_water_;  // counters never go back
  mutable std::mutex final_mu_;                     // the job's thread sets final_
  std::unique_ptr<frozen> final_;
};

}  // namespace uringmig::engine::observe
