// Table runs on the target: opening a window (its chunks, the truncate of a full load, dropped
// indexes) in one transaction, finding the unfinished window a resumed run continues, and
// rebuilding the indexes a full load dropped.
#pragma once

#include "connectors/postgres/connection.hpp"
#include "engine/incremental/load.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace uringmig::engine::incremental {

/// A new row in uringmig.runs; its id. `close_earlier`: the runs of `state_dir` still marked
/// running (processes that died) become interrupted first — not by a worker that joins a
/// round, whose fellow workers' runs are live.
boost::asio::awaitable<std::int64_t> begin_target_run(connectors::postgres::connection& c,
                                                      const std::string& source,
                                                      const std::string& state_dir,
                                                      bool close_earlier = true);
boost::asio::awaitable<void> end_target_run(connectors::postgres::connection& c, std::int64_t id,
                                            const std::string& status, const std::string& message);

/// The unfinished window of `t` with the same window_key, loaded into `t` (window, id, done
/// chunks): true when there is one. An unfinished window of another shape is closed as
/// 'abandoned' (its chunks were upserts: nothing to undo), and so is any with `restart`.
boost::asio::awaitable<bool> resume_window(connectors::postgres::connection& c, run_table& t,
                                           std::int64_t run_id, bool restart);

/// Table run `table_run_id` of `t` (the window its job's coordinator opened) loaded into `t`:
/// window, done chunks, the mark it starts from. usage_error when it is not a run of `t`'s entry.
boost::asio::awaitable<void> load_window(connectors::postgres::connection& c, run_table& t,
                                         std::int64_t table_run_id);

/// Records `t.window` as a new table run with its chunks in one transaction, with the truncate
/// of a full load and, with disable_indexes, the drop of its non-key indexes (kept to rebuild).
boost::asio::awaitable<void> create_window(connectors::postgres::connection& c, run_table& t,
                                           std::int64_t run_id);

/// Rebuilds the indexes full loads of `target_table` dropped, once their table run is done.
boost::asio::awaitable<int> rebuild_indexes(connectors::postgres::connection& c,
                                            const std::string& target_table);

}  // namespace uringmig::engine::incremental
