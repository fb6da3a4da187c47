#pragma once

#include "connectors/postgres/result.hpp"
#include "io/buffer_pool.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace uringmig::connectors::postgres {

using params = std::vector<std::optional<std::string>>;  // text format; nullopt is NULL

/// make_params("1", std::nullopt, s): use it instead of a braced list inside a
/// coroutine — GCC 12 cannot keep an initializer_list's array across co_await.
template <class... A>
params make_params(A&&... a) {
  params p;
  p.reserve(sizeof...(A));
  (p.emplace_back(std::forward<A>(a)), ...);
  return p;
}

/// One extended-protocol statement of a pipeline batch.
struct statement {
  std::string sql;  // or the prepared statement's name when `prepared`
  postgres::params params;
  bool prepared = false;
  /// Per parameter: true sends its bytes as the type's binary form (a bytea's raw bytes, no
  /// hex text to encode and for the server to decode). Empty: every parameter is text.
  std::vector<bool> binary_params = {};
  /// The statement's result columns in binary form (a bytea's raw bytes; text types unchanged).
  bool binary_result = false;
  /// Instead of `params` when not empty: per parameter its offset in `packed`, where its text
  /// ends with a NUL, or a negative number for NULL. All values in one buffer (text format): no
  /// allocation per value.
  std::vector<std::int64_t> packed_at = {};
  std::string packed = {};
};

/// Receives COPY OUT data in pooled buffers; return false to stop early.
using copy_sink = std::function<boost::asio::awaitable<bool>(io::buffer)>;
/// One step of COPY IN data: a buffer, the end (no data, no abort), or an
/// abort with a reason (sent as CopyFail, so the server rolls the COPY back).
struct copy_piece {
  std::optional<io::buffer> data;
  std::string abort;
};
/// Supplies COPY IN data. Report failures through copy_piece::abort rather
/// than by throwing (a throw is caught and treated as an abort too).
using copy_source = std::function<boost::asio::awaitable<copy_piece>()>;

struct connect_options {
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::string application_name = "uringmig";
};

/// An asynchronous PostgreSQL connection bound to one io_context for life.
///
/// One owner coroutine per connection owns the socket, the reads, the flushes
/// and reconnects; callers queue requests and co_await their results, which
/// are matched FIFO. Statements go through libpq's pipeline mode, so many
/// requests are on the wire at once; COPY and simple-protocol requests wait
/// for the pipeline to drain, run alone, then pipelining resumes.
/// Every member must be called from the connection's executor.
class connection {
 public:
  /// Non-blocking connect (PQconnectStart/PQconnectPoll) awaited on io_uring.
  /// `conninfo`: a libpq URI or key=value string. Throws postgres::error.
  static boost::asio::awaitable<connection> connect(boost::asio::any_io_executor ex,
                                                    std::string conninfo, connect_options opts);
  static boost::asio::awaitable<connection> connect(boost::asio::any_io_executor ex,
                                                    std::string conninfo) {
    // Not a default argument: GCC 12 destroys defaulted coroutine arguments twice.
    return connect(std::move(ex), std::move(conninfo), connect_options{});
  }

  connection() = default;
  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  /// Closes in the background: the owner finishes what is queued, then PQfinish.
  ~connection();

  /// One statement with its own sync (an error affects nothing else).
  boost::asio::awaitable<result> query(std::string sql, params p);
  boost::asio::awaitable<result> query(std::string sql) { return query(std::move(sql), params{}); }
  /// Statements sent back to back with one sync at the end: one implicit
  /// transaction; after a failure the rest come back aborted().
  boost::asio::awaitable<std::vector<result>> pipeline(std::vector<statement> batch);
  boost::asio::awaitable<result> prepare(std::string name, std::string sql);
  boost::asio::awaitable<result> execute(std::string name, params p);
  /// Simple protocol: several statements separated by ';' (the last result is
  /// returned, or the first error). Runs alone, outside the pipeline.
  boost::asio::awaitable<result> simple(std::string sql);

  /// COPY ... TO STDOUT: bytes pass to `sink` in buffers from `pool`,
  /// untouched. The result's affected_rows() is the row count.
  boost::asio::awaitable<result> copy_out(std::string sql, io::buffer_pool& pool, copy_sink sink);
  /// COPY ... FROM STDIN with data from `source`.
  boost::asio::awaitable<result> copy_in(std::string sql, copy_source source);

  /// Re-establishes a lost connection (PQresetStart/PQresetPoll): same
  /// parameters, a fresh backend, a new socket. Throws postgres::error.
  boost::asio::awaitable<void> reconnect();
  /// Finishes queued work, then closes. The connection is unusable after.
  boost::asio::awaitable<void> close();

  bool is_open() const;
  /// Why the connection broke, when it did.
  std::optional<diagnostics> failure() const;
  int backend_pid() const;
  int server_version() const;
  std::size_t in_flight() const;
  PGconn* native() const;
  const boost::asio::any_io_executor& executor() const;

  struct impl;

 private:
  explicit connection(std::shared_ptr<impl> i) : impl_(std::move(i)) {}
  std::shared_ptr<impl> impl_;
};

}  // namespace uringmig::connectors::postgres
