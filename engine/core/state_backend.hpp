// Internal to the state store: the one interface its two implementations share — the SQLite
// file of a state directory (state_sqlite.cpp) and a PostgreSQL schema that several workers
// share (state_pg.cpp). state_store forwards every call; each member is thread-safe.
#pragma once

#include "engine/core/state_store.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace uringmig::engine::detail {

class state_backend {
 public:
  virtual ~state_backend() = default;

  /// For messages: the file, or the redacted URL and the job.
  virtual std::string where() const = 0;

  virtual void reset() = 0;
  virtual std::int64_t begin_run(const run_start& r) = 0;
  virtual void set_run_snapshot(std::int64_t run_id, std::string_view snapshot) = 0;
  virtual void end_run(std::int64_t run_id, run_status status, std::string_view message) = 0;

  virtual void save_plan(const std::vector<planned_table>& plan) = 0;
  virtual bool has_plan() const = 0;
  virtual std::vector<planned_table> load_plan() const = 0;

  virtual void mark_chunk_done(std::string_view schema, std::string_view name, int chunk_no,
                               std::int64_t rows, std::int64_t bytes, double seconds) = 0;
  virtual void mark_chunk_failed(std::string_view schema, std::string_view name, int chunk_no,
                                 int attempts, std::string_view error) = 0;
  virtual std::set<int> done_chunks(std::string_view schema, std::string_view name) const = 0;

  virtual void set_table_status(std::string_view schema, std::string_view name, table_status status,
                                std::string_view error) = 0;
  virtual std::optional<table_status> get_table_status(std::string_view schema,
                                                       std::string_view name) const = 0;
  virtual void set_copy_seconds(std::string_view schema, std::string_view name, double seconds) = 0;
  virtual void set_index_seconds(std::string_view schema, std::string_view name,
                                 double seconds) = 0;

  virtual void add_index(std::string_view schema, std::string_view table, std::string_view index,
                         index_kind kind) = 0;
  virtual void mark_index_done(std::string_view schema, std::string_view table,
                               std::string_view index, double seconds) = 0;
  virtual void mark_index_failed(std::string_view schema, std::string_view table,
                                 std::string_view index, std::string_view error) = 0;
  virtual std::set<std::string> done_indexes(std::string_view schema,
                                             std::string_view table) const = 0;

  virtual std::optional<std::string> get(std::string_view key) const = 0;
  virtual void put_many(const std::vector<std::pair<std::string, std::string>>& entries) = 0;
  virtual void erase(std::string_view key) = 0;
  virtual bool compare_and_put(std::string_view key, std::string_view expected,
                               std::string_view value) = 0;

  virtual job_status status_snapshot() const = 0;

  // Chunk leases: a shared state only (state_store.hpp); the embedded store refuses them.
  virtual std::optional<chunk_claim> claim_chunk(std::string_view worker,
                                                 std::chrono::milliseconds lease,
                                                 const std::optional<table_key>& only);
  virtual int renew_leases(std::string_view worker, std::chrono::milliseconds lease);
  virtual void release_chunk(const chunk_claim& c, std::string_view worker);
  virtual bool try_lock(std::string_view what);
  virtual void unlock(std::string_view what);
  virtual bool run_alive(std::int64_t run_id, bool through_restart) const;
  virtual std::int64_t chunks_pending(const std::optional<table_key>& only) const;
  virtual int reopen_chunks();
};

}  // namespace uringmig::engine::detail
