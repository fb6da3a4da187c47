#pragma once

// The job as the engine runs it: job_options (what cli/ merged) with the command as an enum,
// the --source/--target URLs parsed once, and the settings read once into typed values per data
// path (defaults and bounds from engine/core/config_keys.cpp). Built once, before anything is
// touched; every bad input is a usage_error then.

#include "codecs/url.hpp"
#include "engine/core/job.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::engine {

enum class job_command { none, run, plan, follow, switchover, status, verify };

/// "run", "plan", ...; "" for none.
std::string_view to_string(job_command command) noexcept;

/// The command named `name` ("" is none); nullopt for a name that is no engine command.
std::optional<job_command> parse_job_command(std::string_view name) noexcept;

/// [copy], [index], [schema], [large_objects], [pg]: the PostgreSQL -> PostgreSQL clone.
struct bulk_config {
  int retries = 0;                                  // copy.retries
  std::string lock_timeout;                         // copy.lock_timeout, judged by the server
  std::optional<std::string> maintenance_work_mem;  // index.maintenance_work_mem; unset: ours
  bool no_owner = false;                            // schema.no_owner
  bool no_acl = false;                              // schema.no_acl
  bool skip_large_objects = false;                  // large_objects.skip
  std::string pg_bin_dir;                           // pg.bin_dir; empty: found by version
  bool allow_inconsistent = false;  // copy.allow_inconsistent: workers outlive the coordinator
  int exit_mid_chunk = 0;           // copy.debug.exit_mid_chunk: test hook (kill -9 stand-in)
  int lease_s = 30;                 // state.lease_s: a worker's chunk lease
};

/// [sqlite]: SQLite sources and targets.
struct sqlite_config {
  std::int64_t chunk_rows = 0;
  std::int64_t chunk_bytes = 0;
  std::vector<std::string> index;  // more indexes after the data
  bool raw_scan = false;
  bool segment_insert = false;
  int page_size = 0;
  int cache_mib = 0;
  int commit_rows = 0;
  int rows_per_insert = 0;
  int segment_kib = 0;
  int batch_kib = 0;
  std::optional<int> writer_threads;  // unset: one per core, at most one per file
};

/// [doris], [doris.debug]: Doris targets (each key as README's "Doris" explains it).
struct doris_config {
  bool two_phase_commit = false;
  std::string group_commit;      // "", async_mode, sync_mode
  std::string max_filter_ratio;  // "" (none filtered) or a number from 0 to 1, as Doris reads it
  int concurrency_per_be = 0;
  int retries = 0;
  int backoff_ms = 0;
  int backoff_max_ms = 0;
  int expect_100_ms = 0;
  int timeout_s = 0;
  int buffer_kib = 0;
  std::string compress;  // "", gz, lz4
  bool binary_copy = false;
  std::string columns;
  std::string where;
  std::string tls_ca_file;
  std::string trusted_bes;  // host:port,...
  int exit_after_precommit = 0;
};

/// [online]: CDC, follow and switchover.
struct online_config {
  std::string publication;  // empty: one is created for the tables
  int apply_workers = 0;
  bool coalesce = false;
  int reconnect_s = 0;
  bool keep_slot = false;
  bool copy = true;   // false: follow from the slot's start without copying
  int timeout_s = 0;  // switchover
  bool verify = false;
};

/// [verify].
struct verify_config {
  bool md5 = false;  // verify.hash = "md5"; else hash64 where both sides have it
};

/// The settings with a typed home. Per-table keys, [filters], [copy] chunking, [progress] and
/// [stats] are read by the planner, the catalog and the reporter, which also take settings the
/// engine adds itself.
struct job_config {
  bulk_config bulk;
  sqlite_config sqlite;
  doris_config doris;
  online_config online;
  verify_config verify;
};

/// Checks every setting against the registry and reads the typed ones; throws usage_error
/// naming the first bad key.
job_config read_job_config(const std::map<std::string, std::string>& settings);

/// job_options, parsed.
struct job_spec : job_options {
  job_command kind = job_command::none;
  std::optional<codecs::endpoint> source;  // from source_url; nullopt when it is empty
  std::optional<codecs::endpoint> target;  // from target_url
  job_config config;

  /// Parses `opts` (the command, both URLs, every setting): throws usage_error for the first
  /// bad one. Implicit, so that a job_options can be handed to what takes a spec.
  job_spec(const job_options& opts);  // NOLINT(google-explicit-constructor)
  job_spec() : job_spec(job_options{}) {}

  /// `plan`, or `run --dry-run`.
  bool plan_only() const noexcept { return kind == job_command::plan || dry_run; }

  /// The parsed source / target; usage_error "--source: missing" when not given.
  const codecs::endpoint& source_endpoint() const;
  const codecs::endpoint& target_endpoint() const;
};

}  // namespace uringmig::engine
