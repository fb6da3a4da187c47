// Pipelined queries/s over ONE uringmig PostgreSQL connection:
//   pg_pipeline_bench URL [queries=100000] [concurrency=100]
// `concurrency` coroutines each issue queries back to back; the connection
// pipelines them (one sync per query). Prints queries/s.
#include "connectors/postgres/connection.hpp"
#include "io/runtime.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace asio = boost::asio;
namespace pg = uringmig::connectors::postgres;

namespace {

asio::awaitable<void> client(pg::connection& c, int n, int& errors) {
  for (int i = 0; i < n; ++i) {
    pg::result r = co_await c.query("select $1::int * 2", pg::make_params(std::to_string(i)));
    if (!r.ok()) ++errors;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pg_pipeline_bench URL [queries] [concurrency]\n");
    return 2;
  }
  const std::string url = argv[1];
  const int total = argc > 2 ? std::atoi(argv[2]) : 100000;
  const int conc = argc > 3 ? std::atoi(argv[3]) : 100;
  uringmig::io::runtime rt(1);
  int errors = 0;
  double secs = 0;
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await pg::connection::connect(ex, url);
    const auto t0 = std::chrono::steady_clock::now();
    using op = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
    std::vector<op> ops;
    for (int i = 0; i < conc; ++i)
      ops.push_back(asio::co_spawn(ex, client(c, total / conc, errors), asio::deferred));
    co_await asio::experimental::make_parallel_group(std::move(ops))
        .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    co_await c.close();
  }());
  const int done = total / conc * conc;
  std::printf("%d queries in %.3f s: %.0f queries/s (%d errors)\n", done, secs, done / secs,
              errors);
  return errors == 0 ? 0 : 1;
}
