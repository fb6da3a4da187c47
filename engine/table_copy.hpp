#pragma once

#include "connectors/postgres/connection.hpp"
#include "io/buffer_pool.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
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
boost::asio::awaitable<copy_stats> stream_copy(connectors::postgres::connection& src,
                                               connectors::postgres::connection& dst,
                                               std::string copy_out_sql, std::string copy_in_sql,
                                               io::buffer_pool& pool, std::size_t channel_budget);

/// Runs `sql` on `c`'s own executor (wherever the caller is) and throws
/// postgres::error if it fails.
boost::asio::awaitable<void> exec_on(connectors::postgres::connection& c, std::string sql);

/// The columns COPY must name for `t`: not dropped, not generated (the target
/// recomputes those), in attnum order, quoted.
boost::asio::awaitable<std::vector<std::string>> copy_columns(connectors::postgres::connection& c,
                                                              const table_ref& t);

/// Copies every row of `t` from `src` to the same table on `dst` in one target
/// transaction: TRUNCATE + COPY FREEZE, binary format.
boost::asio::awaitable<copy_stats> copy_whole_table(connectors::postgres::connection& src,
                                                    connectors::postgres::connection& dst,
                                                    const table_ref& t, io::buffer_pool& pool);

}  // namespace uringmig::engine
