// Internal to the bulk clone (engine/bulk/).
#pragma once

#include "codecs/url.hpp"
#include "connectors/postgres/connection.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/chunk_runner.hpp"
#include "engine/core/coordinator_snapshot.hpp"
#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/plan_types.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/state_store.hpp"
#include "io/buffer_pool.hpp"
#include "io/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::engine::bulk {

namespace pg = connectors::postgres;

/// An oid column's text; 0 when it is not a number.
inline std::uint32_t to_oid(std::string_view s) {
  std::uint32_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

/// An index (or PK / unique constraint) the bulk clone builds itself.
struct index_def {
  std::uint32_t index_oid = 0;
  std::uint32_t constraint_oid = 0;  // 0: a plain index
  std::string name;                  // quoted, unqualified
  std::string create_sql;            // CREATE [UNIQUE] INDEX IF NOT EXISTS ...
  std::string constraint_sql;        // ALTER TABLE ... ADD CONSTRAINT ... USING INDEX ..., or ""
  std::string constraint_name;       // raw, for the existence check
  index_kind kind = index_kind::index;
  std::int64_t bytes = 0;  // on the source: which build to start first
  // Run once the table's constraints are in: CLUSTER ON, REPLICA IDENTITY USING INDEX,
  // statistics targets, comments (pg_dump writes them with the index; idempotent).
  std::vector<std::string> after_sql;
};

struct table_work {
  table_info info;
  planned_table plan;
  std::vector<index_def> indexes;
  bool text_copy = false;     // a column type has no binary send/receive, or is an OID alias
                              // (regclass…): COPY in text
  std::set<int> done_chunks;  // marked done on the target by an earlier run
  int chunks_left = 0;        // to copy when the run starts
  int indexes_left = 0;       // guarded by job::m
  bool failed = false;        // guarded by job::m
  std::string error;          // guarded by job::m
  std::atomic<std::int64_t> rows{0};
  std::atomic<std::int64_t> bytes{0};
  double copy_seconds = 0;
  double index_seconds = 0;
  table_progress* progress = nullptr;  // owned by job::prog
  bool finish_claimed = false;         // workers: this process holds its finish lock (job::m)
};

/// One index to build, or (index == nullptr) a table to finish: its
/// constraints USING INDEX, then ANALYZE.
struct index_ref {
  table_work* table;
  const index_def* index;
};

/// What happened to the objects that are not table rows (for the summary).
struct objects_outcome {
  bool large_objects_skipped = false;     // large_objects.skip / --skip-large-objects
  std::int64_t large_objects = 0;         // on the source
  std::int64_t large_objects_copied = 0;  // by this run
  std::int64_t large_object_bytes = 0;    // by this run
  int matviews_refreshed = 0;
  int matviews_unpopulated = 0;  // left WITH NO DATA, as on the source
};

/// Shared by every worker of one run; work lists are guarded by `m`.
struct job {
  const job_spec& opts;
  codecs::endpoint source;
  codecs::endpoint target;
  io::runtime& rt;
  state_store& state;
  io::buffer_pool pool{256 * 1024, 128 * 1024 * 1024};
  std::string snapshot;
  std::string imported_snapshot;  // the online preset's slot snapshot; empty: export one
  std::int64_t run_id = 0;
  std::string job_name;               // identifies the run's marks on the target
  std::string app_name = "uringmig";  // application_name of every session and pg_restore
  int retries = 5;
  std::filesystem::path dump_file;
  // The target's shared lock table (max_locks_per_transaction × (max_connections +
  // max_prepared_transactions)); 0: unknown. A restore with more objects than half of it runs one
  // transaction per object instead of one for all ("out of shared memory" at catalog scale).
  std::int64_t lock_budget = 0;
  std::filesystem::path bin_dir;
  engine::progress prog;

  std::deque<std::unique_ptr<table_work>> tables;
  std::mutex m;
  std::deque<index_ref> index_queue;  // data in: indexes to build, tables to finish, biggest first
  bool data_copying = false;          // the chunk runner runs
  chunk_runner* runner = nullptr;     // while it runs: chunks queued or in flight
  int builds_running = 0;             // CREATE INDEX statements in flight
  std::deque<io::wake_handler> index_waiters;
  objects_outcome objects;  // large objects and materialized views, for the summary
  std::vector<std::string> post_data_skipped;  // post-data objects waiting for failed tables
  std::set<std::string> excluded;              // "schema.name" of the plan left out by the filters

  // Several workers on the job (a --state-url state; workers.cpp).
  bool leased = false;
  std::string worker;                 // this worker's name in the state
  std::atomic<int> chunks_loaded{0};  // copy.debug.exit_mid_chunk
  /// The round's coordinator (it planned and holds the snapshot) and its watch.
  coordinator_snapshot coord{state, rt};
  /// The snapshot a new source session joins: the coordinator's, or none (a fresh one) once it
  /// died under --allow-inconsistent.
  std::string current_snapshot() const { return coord.current(snapshot); }

  job(const job_spec& o, codecs::endpoint s, codecs::endpoint t, io::runtime& r, state_store& st)
      : opts(o), source(std::move(s)), target(std::move(t)), rt(r), state(st) {}
  double elapsed() const;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// schema.cpp
/// Terminates the target sessions tagged with the job's application_name (left by a killed run:
/// an index build, a schema restore) and waits until they are gone.
boost::asio::awaitable<void> end_leftover_sessions(job& j, pg::connection& dst);
/// Drops the target's invalid indexes (a build that did not finish); returns how many.
boost::asio::awaitable<int> drop_invalid_indexes(pg::connection& dst);
boost::asio::awaitable<void> dump_schema(job& j, const std::vector<table_info>& selected,
                                         pg::connection& src);
boost::asio::awaitable<void> restore_section(job& j, const std::string& section, bool clean,
                                             const std::set<std::uint32_t>& skip_oids);
/// A catalog object: (pg_class oid of its catalog, its oid), as pg_restore --list shows it.
using object_id = std::pair<std::uint32_t, std::uint32_t>;
struct restore_result {
  std::set<object_id> restored;  // in the section and restored
  std::set<object_id> left_out;  // in the section and in `skip`
};
/// restore_section without the objects in `skip` too.
boost::asio::awaitable<restore_result> restore_section(job& j, const std::string& section,
                                                       bool clean,
                                                       const std::set<std::uint32_t>& skip_oids,
                                                       const std::set<object_id>& skip);
/// The objects on the source that depend on any of `tables` (directly or through other
/// objects), each with its description ("constraint fk on table child").
boost::asio::awaitable<std::map<object_id, std::string>> dependents_of(
    pg::connection& src, const std::vector<std::uint32_t>& tables);
boost::asio::awaitable<std::map<std::uint32_t, std::vector<index_def>>> list_indexes(
    pg::connection& src, const std::vector<table_info>& tables);
boost::asio::awaitable<std::vector<std::string>> user_tables(pg::connection& c, int limit);
boost::asio::awaitable<void> prepare_target(pg::connection& dst, bool restart);
boost::asio::awaitable<std::set<std::tuple<std::string, std::string, int>>> target_done_marks(
    pg::connection& dst);

// guard.cpp
/// copy.lock_timeout: how long the run waits for a table lock on the source.
std::string lock_timeout(const job_spec& opts);
job_error locked_error(const std::string& table, const std::string& timeout);
/// After a lock timeout on `src` (its transaction is rolled back): the tables other sessions
/// hold ACCESS EXCLUSIVE, for the message.
boost::asio::awaitable<std::string> locked_tables(pg::connection& src);
/// Tries the server-side settings the run uses later (index.maintenance_work_mem on the target,
/// copy.lock_timeout on the source): usage_error naming the key before anything moves.
boost::asio::awaitable<void> check_server_settings(const job_spec& opts, pg::connection& src,
                                                   pg::connection& dst);
/// In the snapshot's transaction: lock waits end after copy.lock_timeout.
boost::asio::awaitable<void> set_lock_timeout(const job_spec& opts, pg::connection& src);
/// ACCESS SHARE on every selected table in the session that holds the snapshot, as pg_dump does.
boost::asio::awaitable<void> lock_source_tables(const job_spec& opts, pg::connection& src,
                                                const std::vector<table_info>& tables);
/// On resume: usage_error when the target lost what the state directory says was done.
boost::asio::awaitable<void> check_target_matches_state(job& j, pg::connection& dst,
                                                        bool target_empty,
                                                        const std::vector<planned_table>& plan);
/// A table of the saved plan this run does not copy: excluded by the filters, or gone.
boost::asio::awaitable<void> leave_out(job& j, pg::connection& src, const planned_table& p);
/// Post-data for every table that arrived; what depends on a failed table waits for a later
/// run (named in j.post_data_skipped).
boost::asio::awaitable<void> restore_post_data(
    job& j, pg::connection& src, const std::map<std::uint32_t, std::vector<index_def>>& indexes);
std::string join_names(const std::vector<std::string>& names);

// copy.cpp
/// A source session inside the job's snapshot (on `ex`).
boost::asio::awaitable<pg::connection> open_source(job& j, boost::asio::any_io_executor ex);
/// A target session configured for loading (on `ex`).
boost::asio::awaitable<pg::connection> open_target(job& j, boost::asio::any_io_executor ex);
/// Copies every chunk to copy over `jobs` workers (the chunk runner), then lets the index
/// workers finish.
boost::asio::awaitable<void> copy_data(job& j, std::size_t jobs);
boost::asio::awaitable<void> index_worker(job& j, std::size_t index);
/// Under j.m: the table's data is in, `copy_seconds` after its first chunk; queues its indexes.
void table_data_done(job& j, table_work& t, double copy_seconds);
void wake_index_workers(job& j);  // under j.m

// workers.cpp
/// The first worker to arrive coordinates (j.coord; it plans and publishes); the others check
/// their definition against its (usage_error naming the difference), wait for its plan and take
/// its snapshot. A coordinator that dies before its plan is ready is replaced.
boost::asio::awaitable<void> join_workers(job& j);
/// The coordinator: the plan and the snapshot are there for the others.
void publish_plan(job& j);
/// Whether this worker finishes `t` (its indexes, constraints, ANALYZE): always alone; among
/// workers, when it takes the table's finish lock (held until release_finish or its end) and
/// nobody finished the table yet.
bool claim_finish(job& j, table_work& t);
void release_finish(job& j, table_work& t);
/// Workers, once no chunk is left: finishes the tables whose data is in and whose finisher died
/// (or never came), and waits for the live ones' finishers.
boost::asio::awaitable<void> finish_others(job& j);
/// The job's last steps (large objects, post-data, sequences, matviews) run once: false when
/// another worker did them (or a stop came first).
boost::asio::awaitable<bool> lock_job_finish(job& j);
void unlock_job_finish(job& j, bool finished);

// objects.cpp
/// "schema.name" of every table and partitioned table the schema dump keeps: each selected
/// table's whole partition tree, and partitioned tables (with or without partitions) that pass
/// the filters.
boost::asio::awaitable<std::set<std::string>> schema_tables(pg::connection& src,
                                                            const std::vector<table_info>& selected,
                                                            const table_filter& f);
/// Tables with a column whose type (or an element, base, attribute or subtype of it) has no
/// binary send/receive, or is an OID alias (regclass, regtype, ...): oid -> the first such type.
boost::asio::awaitable<std::map<std::uint32_t, std::string>> text_copy_tables(
    pg::connection& src, const std::vector<table_info>& tables);
/// REFRESH MATERIALIZED VIEW on the target for every materialized view populated on the source,
/// dependencies first, independent ones in parallel (up to --index-jobs sessions).
boost::asio::awaitable<void> refresh_matviews(job& j, pg::connection& src);

/// For `plan`: a line each on the large objects and materialized views a run would carry.
boost::asio::awaitable<std::string> plan_objects(const job_spec& opts, pg::connection& src);

// large_objects.cpp
/// Copies the source's large objects (same OIDs, owners, ACLs) under the job's snapshot, in
/// batches, resumable through `uringmig.large_object_done` on the target.
boost::asio::awaitable<void> copy_large_objects(job& j, pg::connection& src);
/// Before a new job (not a resumed one, not --restart): usage_error if the target has large
/// objects with the source's OIDs (the copy replaces the ones it finds without a done mark).
boost::asio::awaitable<void> check_large_objects(job& j, pg::connection& src, pg::connection& dst);

}  // namespace uringmig::engine::bulk
