// A Doris target of an incremental load: Unique Key tables, rows upserted by Stream Load (the
// connector's labelled loads), the table's window and watermark kept in the state store (a
// Stream Load cannot share a transaction with them: the mark moves only after every chunk of its
// window committed, and a redo of a chunk is an upsert of the same rows).
#pragma once

#include "codecs/doris_format.hpp"
#include "codecs/url.hpp"
#include "connectors/doris/labelled_load.hpp"
#include "engine/core/chunk_runner.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/state_store.hpp"
#include "engine/incremental/plan.hpp"
#include "io/buffer_pool.hpp"
#include "io/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace uringmig::engine::incremental {

/// Where a Doris target's loads go and how they retry (the URL and `doris.*`).
struct doris_side {
  codecs::doris_endpoint target;
  connectors::doris::retry_policy policy;
  std::chrono::milliseconds expect_100{10000};
  int load_timeout_s = 0;
  std::string max_filter_ratio;  // doris.max_filter_ratio; on_error = "reject" sends 1
  connectors::doris::http_client_options http;
  std::vector<std::string> trusted;  // BEs of be= and doris.trusted_bes
  std::string fe_url() const;
  connectors::doris::load_endpoint endpoint() const;
};

/// Reads the target URL and `doris.*`; usage_error for what incremental loads do not use
/// (group commit: no labels; two-phase commit: each chunk commits on its own).
doris_side make_doris_side(const job_spec& spec);

/// Reaches the FE, checks the credentials (usage_error when refused) and adds the BEs it lists
/// to `d.trusted`: the nodes its redirects may lead to with the credentials.
boost::asio::awaitable<void> trust_listed_backends(connectors::doris::http_client& http,
                                                   doris_side& d);

/// Database and table of an entry's target: `db.table`, or the URL's database.
std::pair<std::string, std::string> doris_table_of(const table_entry& e, const doris_side& d);

/// Checks `e` against the source and the Doris table (`_schema`): it exists, is a Unique Key
/// table whose key columns are exactly `key`, every column with its exact case; mode full is
/// refused (Stream Load cannot truncate). usage_error with one line naming the entry.
boost::asio::awaitable<table_plan> check_doris_entry(const table_entry& e, source& src,
                                                     connectors::doris::http_client& http,
                                                     const doris_side& d, const state_store* state);

/// A table's window as the state store keeps it for a Doris target.
struct stored_window {
  std::int64_t id = 0;  // counts the table's windows: part of every label
  std::string key;      // window_key() when it opened
  table_window window;
  std::set<int> done;
};

std::optional<stored_window> load_window(const state_store& s, const std::string& target);
/// Writes `w` (with its done chunks) as the table's open window.
void save_window(state_store& s, const std::string& target, const stored_window& w);
/// The window is done: the new mark, and no open window, in one write.
void finish_window(state_store& s, const std::string& target,
                   const std::optional<std::string>& mark);
/// The stored mark of a Doris target table.
std::optional<std::string> doris_mark(const state_store& s, const std::string& target);
/// The next window id of `target` (one more than any before; kept across windows).
std::int64_t next_window_id(state_store& s, const std::string& target);

/// A table of a run into Doris.
struct doris_table {
  table_plan plan;
  stored_window win;
  std::string db;
  std::string table;
  std::string stem;  // label-safe: "<name>_<hash>"
  std::vector<planned_chunk> planned;
  std::optional<codecs::doris_row_writer> writer;
  connectors::doris::http_headers headers;
  std::atomic<std::int64_t> rows_read{0};
  std::atomic<std::int64_t> rows_upserted{0};
  std::atomic<std::int64_t> rows_deleted{0};
  std::atomic<std::int64_t> rows_rejected{0};
  table_progress* progress = nullptr;
  bool failed = false;
  std::string error;
};

/// What the workers of a run into Doris share.
struct doris_job {
  source* src = nullptr;
  doris_side side;
  io::runtime* rt = nullptr;
  state_store* state = nullptr;
  std::string token;  // in every label: new with --restart
  /// One of several workers (a shared state): the state's chunk marks are the done chunks
  /// (the chunk runner's), the window's entry is not rewritten per chunk.
  bool shared = false;
  std::vector<std::unique_ptr<doris_table>> tables;
  std::filesystem::path rejects_dir;
  io::buffer_pool pool{256 * 1024, 64u << 20};
  std::mutex m;  // windows in the state store, rejects files, failures
  std::vector<std::string> failures;
};

/// The row writer, headers and label stem of `t`.
void prepare_doris_table(doris_table& t, const doris_side& d);

/// The label of a chunk: `uringmig_inc_<token>_<stem>_<window>_<chunk>`.
std::string doris_label(const doris_job& j, const doris_table& t, int chunk_no);

/// The chunk runner's path over `j`: a worker holds a source session and an HTTP client.
std::unique_ptr<chunk_path> make_doris_path(doris_job& j);

/// `plan` and `run --preset incremental` with a Doris target.
int plan_doris(const job_spec& spec);
int run_doris(const job_spec& spec);

}  // namespace uringmig::engine::incremental
