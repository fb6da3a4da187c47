#include "engine/bulk/table_copy.hpp"

#include "codecs/sql_text.hpp"
#include "io/channel.hpp"
#include "io/runtime.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <atomic>
#include <chrono>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;
using codecs::qualified_name;

namespace {

asio::awaitable<void> exec_checked(pg::connection& c, std::string sql) {
  (co_await c.query(sql)).check(sql);
}

}  // namespace

asio::awaitable<copy_stats> stream_copy(pg::connection& src, pg::connection& dst,
                                        std::string copy_out_sql, std::string copy_in_sql,
                                        io::buffer_pool& pool, std::size_t channel_budget,
                                        std::function<void(std::size_t)> on_bytes) {
  io::channel<io::buffer> ch(channel_budget);
  std::atomic<bool> reader_failed{false};
  std::atomic<std::int64_t> bytes{0};
  const auto t0 = std::chrono::steady_clock::now();

  auto reader = [&]() -> asio::awaitable<pg::result> {
    pg::result r = co_await src.copy_out(std::move(copy_out_sql), pool,
                                         [&](io::buffer b) -> asio::awaitable<bool> {
                                           bytes += static_cast<std::int64_t>(b.size());
                                           if (on_bytes) on_bytes(b.size());
                                           co_return co_await ch.send(std::move(b));
                                         });
    if (!r.ok()) {
      reader_failed = true;
      ch.cancel();
    } else {
      ch.close();
    }
    co_return r;
  };
  auto writer = [&]() -> asio::awaitable<pg::result> {
    pg::result r =
        co_await dst.copy_in(std::move(copy_in_sql), [&]() -> asio::awaitable<pg::copy_piece> {
          pg::copy_piece p;
          p.data = co_await ch.receive();
          // A channel that ends because the reader failed must not end the
          // COPY normally: that would commit a partial table.
          if (!p.data && reader_failed) p.abort = "the source side of the copy failed";
          co_return p;
        });
    if (!r.ok()) ch.cancel();  // the reader's sink now returns false: it stops
    co_return r;
  };

  using namespace asio::experimental::awaitable_operators;
  // Neither side throws: both always finish, and both results are looked at.
  auto [out, in] =
      co_await (io::run_on(src.executor(), reader()) && io::run_on(dst.executor(), writer()));
  if (!out.ok()) throw pg::error(out.error());
  if (!in.ok()) throw pg::error(in.error());
  copy_stats s;
  s.rows = in.affected_rows();
  s.bytes = bytes;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  co_return s;
}

asio::awaitable<void> exec_on(pg::connection& c, std::string sql) {
  co_await io::run_on(c.executor(), exec_checked(c, std::move(sql)));
}

namespace {

void check_committed(const pg::result& r) {
  r.check("COMMIT");
  // COMMIT of a failed transaction "succeeds" as ROLLBACK: never take it for a commit.
  if (std::string_view(PQcmdStatus(r.native())) != "COMMIT") {
    pg::diagnostics d;
    d.sqlstate = "40000";
    d.message = "the transaction was rolled back instead of committed";
    throw pg::error(std::move(d));
  }
}

asio::awaitable<void> commit_checked(pg::connection& c) {
  check_committed(co_await c.query("COMMIT"));
}

asio::awaitable<void> commit_after(pg::connection& c, std::string last) {
  std::vector<pg::statement> b;
  b.push_back({last, {}, false});
  b.push_back({"COMMIT", {}, false});
  auto rs = co_await c.pipeline(std::move(b));
  rs.at(0).check(last);
  check_committed(rs.at(1));
}

}  // namespace

asio::awaitable<void> commit_on(pg::connection& c) {
  co_await io::run_on(c.executor(), commit_checked(c));
}

asio::awaitable<void> commit_on(pg::connection& c, std::string last) {
  co_await io::run_on(c.executor(), commit_after(c, std::move(last)));
}

asio::awaitable<std::vector<std::string>> copy_columns(pg::connection& c, const table_ref& t) {
  pg::result r = co_await c.query(
      "select quote_ident(attname) from pg_attribute "
      "where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = '' "
      "order by attnum",
      pg::make_params(qualified_name(t.schema, t.name)));
  r.check("listing the columns of " + t.display());
  std::vector<std::string> cols;
  for (int i = 0; i < r.rows(); ++i)
    cols.emplace_back(r.value(i, 0));
  co_return cols;
}

}  // namespace uringmig::engine
