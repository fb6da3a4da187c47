// Loading the chunks of incremental table runs on the shared chunk runner: per chunk, the source's
// rows into a temporary staging table, one INSERT ... ON CONFLICT, and the chunk's done mark (and,
// with the table run's last chunk, the new watermark) in the same target transaction.
#pragma once

#include "codecs/url.hpp"
#include "engine/core/chunk_runner.hpp"
#include "engine/incremental/plan.hpp"
#include "io/buffer_pool.hpp"
#include "io/runtime.hpp"

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace uringmig::engine::incremental {

/// A table of this run: its checked entry, its window and the SQL its chunks run.
struct run_table {
  table_plan plan;
  table_window window;
  std::int64_t table_run_id = 0;
  std::vector<planned_chunk> planned;  // the runner's view of window.chunks (same numbers)
  std::set<int> done;                  // from the target's uringmig.chunks
  std::string stage;                   // temporary staging table names
  std::string keys_stage;
  std::string stage_ddl;
  std::string keys_ddl;
  std::pair<std::string, std::string> upsert_sql;  // staging -> target, around the condition
  std::string copy_stage_sql;
  std::string copy_direct_sql;  // full mode: straight into the target
  std::atomic<std::int64_t> rows_read{0};
  std::atomic<std::int64_t> rows_upserted{0};
  std::atomic<std::int64_t> rows_deleted{0};
  std::atomic<std::int64_t> rows_rejected{0};
  table_progress* progress = nullptr;
  bool failed = false;
  std::string error;
};

/// What the workers share.
struct load_job {
  source* src = nullptr;
  codecs::endpoint target;
  io::runtime* rt = nullptr;
  std::vector<std::unique_ptr<run_table>> tables;
  std::filesystem::path rejects_dir;  // <state-dir>/rejects
  io::buffer_pool pool{256 * 1024, 64u << 20};
  /// Tests (copy.debug.exit_mid_chunk = N): exit as kill -9 does once this process's Nth chunk
  /// committed on the target, before the state store marks it done.
  int exit_after_commit = 0;
  std::atomic<int> committed{0};
  std::mutex m;  // rejects files, failures
  std::vector<std::string> failures;
};

/// Fills the SQL of `t` (staging DDL, COPY, upsert), index `i` naming its staging tables.
void prepare_sql(run_table& t, std::size_t i);

/// The chunk runner's path over `j`: a worker holds a source session and a target session.
std::unique_ptr<chunk_path> make_load_path(load_job& j);

}  // namespace uringmig::engine::incremental
