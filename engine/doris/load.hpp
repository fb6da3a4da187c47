// Internal to the Doris load (engine/doris/*.cpp): the job's settings, its tables, and the
// chunk loader that the run drives.
#pragma once

#include "codecs/doris_format.hpp"
#include "codecs/doris_types.hpp"
#include "codecs/pg_binary.hpp"
#include "codecs/url.hpp"
#include "connectors/doris/http_client.hpp"
#include "connectors/doris/stream_load.hpp"
#include "connectors/postgres/connection.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/plan_types.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/state_store.hpp"
#include "engine/core/workers.hpp"
#include "io/buffer_pool.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

namespace uringmig::engine::doris {

/// What the target URL and the config's `doris.*` settings ask for (README: "Doris").
struct load_settings {
  codecs::doris_endpoint target;
  std::size_t workers = 2;  // chunks loading at once (one source reader + one HTTP client each)
  int retries = 5;          // per chunk, for outcomes that may clear up
  std::chrono::milliseconds backoff{500};
  std::chrono::milliseconds backoff_max{30000};
  bool two_phase = false;        // doris.two_phase_commit
  bool binary_copy = true;       // doris.binary_copy: COPY binary where the types allow it
  std::string group_commit;      // "", async_mode, sync_mode
  std::string compress;          // "", gz
  std::string max_filter_ratio;  // "" : no row may be filtered
  std::string columns;           // doris.columns: replaces the generated `columns` header
  std::string where;             // doris.where: Doris-side filter
  std::chrono::milliseconds expect_100_timeout{10000};
  int load_timeout_s = 0;  // doris.timeout: Doris's `timeout` header, 0: Doris's default
  std::size_t buffer_bytes = 256 * 1024;  // body pieces handed to libcurl
  std::size_t channel_bytes = 2 * 1024 * 1024;
  int exit_after_precommit = 0;  // doris.debug.exit_after_precommit: test hook (kill -9 stand-in)
  std::string tls_ca_file;       // the URL's tls_ca, else doris.tls_ca_file
  /// doris.trusted_bes: more BEs a redirect may lead to with the credentials ("host:port")
  std::vector<codecs::host_port> trusted_bes;
};

load_settings make_settings(const job_spec& opts, const codecs::doris_endpoint& target);

/// One source table and where it goes.
struct table_target {
  table_info info;          // columns: every stored column, quoted (generated ones too)
  std::string doris_table;  // tables."s.t".doris_table, else the source table's name
  std::string label_stem;   // "<sanitised name>_<hash>": deterministic per table
  codecs::doris_row_writer writer;
  std::vector<codecs::pg_binary_type> binary;  // read as COPY binary (CSV only); empty: text
  std::string copy_format_note;                // "COPY binary", "COPY text (why)": for the log
  connectors::doris::http_headers headers;     // every load of this table
  planned_table plan;
  table_progress* progress = nullptr;
  bool failed = false;     // guarded by job::m
  bool finishing = false;  // workers: one of this process's is marking it done (job::m)
  std::string error;       // guarded by job::m
  std::atomic<std::int64_t> rows{0};
  std::atomic<std::int64_t> filtered{0};

  table_target(table_info i, std::string target, codecs::doris_row_writer w)
      : info(std::move(i)), doris_table(std::move(target)), writer(std::move(w)) {}
};

/// Shared by the workers of one run.
struct job {
  const job_spec& opts;
  codecs::endpoint source;
  load_settings cfg;
  state_store& state;
  io::buffer_pool pool;
  std::string snapshot;
  std::string token;  // in every label: changes with --restart
  std::vector<std::string> be_urls;
  std::unique_ptr<connectors::doris::be_rotation> bes;  // null: through the FE
  /// Base URLs a redirect may lead to with our credentials: be_urls and the BEs the FE lists
  /// (filled before the workers start, read-only after).
  std::vector<std::string> trusted;
  progress prog;
  std::deque<std::unique_ptr<table_target>> tables;
  std::mutex m;
  std::atomic<int> precommits{0};
  io::runtime& rt;
  std::stop_token stop;  // the runtime's: a retry's backoff ends early when it is requested

  // Several workers on the job (a --state-url state).
  bool leased = false;
  std::int64_t run_id = 0;
  std::string worker;  // this process's name in the state
  /// The round's coordinator (it planned and holds the snapshot) and the watch on it.
  coordinator_watch coord;

  job(const job_spec& o, codecs::endpoint s, load_settings c, state_store& st, io::runtime& r);
  /// The FE's base URL, or the next BE's in direct mode.
  std::string next_base_url();
  std::string fe_base_url() const;
  connectors::doris::load_endpoint endpoint(std::string base) const;
  /// An HTTP client's options: TLS (CA file, verification) as the target asks.
  connectors::doris::http_client_options http_options() const;
};

/// A worker's own connections, on its own context.
struct worker {
  std::size_t index = 0;
  std::optional<connectors::postgres::connection> source;  // under the job's snapshot
  std::optional<connectors::doris::http_client> http;
};

/// Sets up a source session for reading (text forms Doris reads back exactly) and joins the
/// job's exported snapshot (a worker's: as join_coordinator_snapshot).
boost::asio::awaitable<void> join_snapshot(job& j, connectors::postgres::connection& c);

/// Every stored column of a source table (generated ones too: Doris keeps their values as
/// data) with its format_type() text, type OID and NOT NULL, in attnum order.
boost::asio::awaitable<std::vector<codecs::doris_source_column>> columns_of(
    connectors::postgres::connection& c, const table_info& t);

/// How long to wait before retry `attempt` (0-based): backoff doubling up to backoff_max.
std::chrono::milliseconds backoff_for(const load_settings& s, int attempt);

/// Deterministic label of a chunk: `uringmig_<token>_<table stem>_<chunk>`.
std::string chunk_label(const job& j, const table_target& t, int chunk_no);

/// Label-safe, recognisable stem for a table ("[-_A-Za-z0-9]", at most 40 characters, then a
/// hash of schema and name so two tables never share one).
std::string label_stem(const std::string& schema, const std::string& name);

/// What loading one chunk came to, after its retries.
struct chunk_result {
  bool ok = false;
  std::int64_t rows = 0;      // loaded by this run (0 when an earlier run had loaded them)
  std::int64_t filtered = 0;  // rows Doris filtered (max_filter_ratio set)
  std::uint64_t bytes = 0;    // body bytes of the successful attempt
  int attempts = 0;
  std::string error;  // one line: the table, the chunk, Doris's message, the ErrorURL
  /// Stopped (SIGINT, --max-runtime) while waiting to retry: neither done nor failed; the
  /// next run loads it with the same label.
  bool interrupted = false;
};

/// Loads one chunk exactly once: deterministic label; retries an unknown outcome or a
/// transient failure with the same label and backoff; `Label Already Exists` FINISHED counts
/// as done, RUNNING waits (with 2PC: commits the earlier precommit). Success only when Doris
/// committed and its row counts match what was sent. Throws job_error for what no retry can
/// fix in any chunk (wrong credentials).
boost::asio::awaitable<chunk_result> load_chunk(job& j, worker& w, table_target& t,
                                                const planned_chunk& c);

/// Commits (or aborts) precommitted transactions a killed run (or worker) left in the state
/// store; a committed one's chunk is marked done.
boost::asio::awaitable<void> settle_precommitted(job& j, connectors::doris::http_client& http,
                                                 bool commit);

/// Refuses (usage_error) a table whose Stream Load headers would hold a line break (a column
/// name, a `where`), naming the table and the column, escaped.
void check_headers(const table_target& t, const std::vector<codecs::doris_column>& cols);

/// Reaches the FE and checks the credentials before anything is loaded; then adds the BEs the
/// FE lists to `j.trusted`. Unreachable: bounded retries, then job_error. Refused credentials
/// or a TLS failure: job_error at once.
boost::asio::awaitable<void> preflight(job& j, connectors::doris::http_client& http);

/// What a run came to, for its summary.
struct run_state {
  std::int64_t rows = 0;
  std::int64_t filtered = 0;
  std::vector<std::string> failures;
  bool interrupted = false;
};

/// Loads every table's chunks not done yet on the chunk runner (`j.cfg.workers` workers on the
/// runtime's contexts 1..n), reporting progress; sets `rs.interrupted` when a stop left chunks.
/// Workers (`j.leased`): the chunks come from the state's leases, a table is finished (marked
/// done) by one worker, and the ones whose finisher died are finished after the last chunk.
boost::asio::awaitable<void> load_tables(job& j, io::runtime& rt, run_state& rs,
                                         const reporter_options& reporter_opts);

/// State store keys of a chunk's precommitted transaction.
std::string precommit_key(const table_target& t, int chunk_no);
inline constexpr const char* precommit_prefix = "doris.precommit.";

}  // namespace uringmig::engine::doris
