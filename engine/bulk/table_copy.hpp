#pragma once

#include "connectors/postgres/connection.hpp"
#include "io/buffer_pool.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace uringmig::engine {

struct table_ref {
  std::string schema;
  std::string name;
  std::string display() const { return schema + "." + name; }
};

struct copy_stats {
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  double seconds = 0;
};

/// Streams `copy_out_sql` (COPY ... TO STDOUT) on `src` into `copy_in_sql`
/// (COPY ... FROM STDIN) on `dst`, each on its own connection's context,
/// through a channel of pooled buffers bounded by `channel_budget` bytes.
/// The bytes are not parsed. If either side fails, the COPY IN is aborted
/// (CopyFail), so a target transaction never commits a partial stream.
/// Throws postgres::error with the failing side's diagnostics.
/// `on_bytes`, when set, is called from the source's thread for every buffer read.
boost::asio::awaitable<copy_stats> stream_copy(connectors::postgres::connection& src,
                                               connectors::postgres::connection& dst,
                                               std::string copy_out_sql, std::string copy_in_sql,
                                               io::buffer_pool& pool, std::size_t channel_budget,
                                               std::function<void(std::size_t)> on_bytes);

/// Runs `sql` on `c`'s own executor (wherever the caller is) and throws
/// postgres::error if it fails.
boost::asio::awaitable<void> exec_on(connectors::postgres::connection& c, std::string sql);

/// COMMIT on `c`'s executor; throws if the server rolled back instead.
boost::asio::awaitable<void> commit_on(connectors::postgres::connection& c);
/// `last` (a statement of the open transaction, its done mark) and COMMIT in one round trip, on
/// `c`'s executor; throws if either fails or the server rolled back instead.
boost::asio::awaitable<void> commit_on(connectors::postgres::connection& c, std::string last);

/// The columns COPY must name for `t`: not dropped, not generated (the target
/// recomputes those), in attnum order, quoted.
boost::asio::awaitable<std::vector<std::string>> copy_columns(connectors::postgres::connection& c,
                                                              const table_ref& t);

}  // namespace uringmig::engine
