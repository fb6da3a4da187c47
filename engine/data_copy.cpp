#include "engine/data_copy.hpp"

#include "codecs/sql_text.hpp"
#include "codecs/url.hpp"
#include "engine/table_copy.hpp"
#include "io/runtime.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace {

struct table_info {
  table_ref ref;
  std::int64_t bytes = 0;
};

struct table_outcome {
  table_ref ref;
  copy_stats stats;
  std::string error;  // empty: copied
};

bool selected(const job_options& o, const std::string& qualified) {
  auto any = [&](const std::vector<std::string>& pats) {
    return std::any_of(pats.begin(), pats.end(),
                       [&](const std::string& p) { return codecs::glob_match(p, qualified); });
  };
  if (!o.tables.empty() && !any(o.tables)) return false;
  return !any(o.exclude);
}

asio::awaitable<pg::connection> connect_or_explain(asio::any_io_executor ex,
                                                   const codecs::endpoint& e, const char* role) {
  try {
    co_return co_await pg::connection::connect(
        ex, std::get<codecs::postgres_endpoint>(e.spec).conninfo);
  } catch (const pg::error& err) {
    throw job_error(fmt::format("cannot connect to the {} {}: {}", role, codecs::redacted_url(e),
                                err.diag().message));
  }
}

asio::awaitable<std::vector<table_info>> list_tables(pg::connection& src, const job_options& o) {
  pg::result r = co_await src.query(
      "select n.nspname, c.relname, pg_total_relation_size(c.oid) "
      "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
      "where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') "
      "and n.nspname not like 'pg\\_%' "
      "order by 3 desc, 1, 2");
  r.check("listing the source tables");
  std::vector<table_info> out;
  for (int i = 0; i < r.rows(); ++i) {
    table_info t{{std::string(r.value(i, 0)), std::string(r.value(i, 1))},
                 std::stoll(std::string(r.value(i, 2)))};
    if (selected(o, t.ref.display())) out.push_back(std::move(t));
  }
  co_return out;
}

/// One worker: a source connection on context `i % n`, a target one on the
/// next context, taking tables from the shared list until it is empty.
asio::awaitable<void> worker(io::runtime& rt, std::size_t index, const codecs::endpoint& source,
                             const codecs::endpoint& target, std::vector<table_info>& todo,
                             std::vector<table_outcome>& done, io::buffer_pool& pool) {
  auto sex = rt.executor(index % rt.size());
  auto dex = rt.executor((index + 1) % rt.size());
  auto src = co_await io::run_on(sex, connect_or_explain(sex, source, "source"));
  auto dst = co_await io::run_on(dex, connect_or_explain(dex, target, "target"));
  co_await io::run_on(dex, [](pg::connection& d) -> asio::awaitable<void> {
    (co_await d.query("SET synchronous_commit = off")).check("configuring the target session");
    // Triggers and FK checks must not fire while data loads (superuser only).
    pg::result r = co_await d.query("SET session_replication_role = replica");
    if (!r.ok()) spdlog::warn("target: session_replication_role not set: {}", r.error().message);
  }(dst));
  const auto stop = rt.stop_token();
  while (!todo.empty() && !stop.stop_requested()) {
    table_info t = std::move(todo.front());
    todo.erase(todo.begin());
    table_outcome o{t.ref, {}, {}};
    try {
      o.stats = co_await copy_whole_table(src, dst, t.ref, pool);
      spdlog::info("copied {}: {} rows, {:.1f} MB in {:.2f}s", t.ref.display(), o.stats.rows,
                   o.stats.bytes / 1e6, o.stats.seconds);
    } catch (const pg::error& e) {
      o.error = e.diag().to_string();
      spdlog::error("copying {} failed: {}", t.ref.display(), o.error);
    }
    done.push_back(std::move(o));
  }
}

}  // namespace

int run_data_copy(const job_options& opts) {
  auto source = codecs::parse_endpoint(opts.source_url);
  auto target = codecs::parse_endpoint(opts.target_url);
  if (!source) throw usage_error("--source: " + source.error);
  if (!target) throw usage_error("--target: " + target.error);

  const std::size_t threads = opts.jobs > 0
                                  ? std::min<std::size_t>(static_cast<std::size_t>(opts.jobs), 4)
                                  : io::default_thread_count();
  io::runtime rt(threads);
  io::buffer_pool pool(256 * 1024, 64 * 1024 * 1024);
  std::vector<table_outcome> done;
  const auto t0 = std::chrono::steady_clock::now();

  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto src = co_await connect_or_explain(ex, *source.value, "source");
    auto todo = co_await list_tables(src, opts);
    if (todo.empty())
      throw usage_error("no source table matches --tables/--exclude; nothing to copy");
    spdlog::info("{} table(s) to copy", todo.size());
    const std::size_t jobs =
        std::min<std::size_t>(opts.jobs > 0 ? opts.jobs : threads, todo.size());
    using op = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
    std::vector<op> ops;
    for (std::size_t i = 0; i < jobs; ++i)
      ops.push_back(asio::co_spawn(
          ex, worker(rt, i, *source.value, *target.value, todo, done, pool), asio::deferred));
    auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(ops))
                               .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    (void)order;
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }());

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::int64_t rows = 0, bytes = 0;
  std::vector<std::string> failed;
  std::printf("%-40s %12s %10s %8s\n", "table", "rows", "MB", "seconds");
  for (const auto& o : done) {
    rows += o.stats.rows;
    bytes += o.stats.bytes;
    if (!o.error.empty()) failed.push_back(o.ref.display());
    std::printf("%-40s %12lld %10.1f %8.2f%s\n", o.ref.display().c_str(),
                static_cast<long long>(o.stats.rows), o.stats.bytes / 1e6, o.stats.seconds,
                o.error.empty() ? "" : "  FAILED");
  }
  std::printf("total: %lld rows, %.1f MB in %.2fs (%.0f rows/s, %.1f MB/s)\n",
              static_cast<long long>(rows), bytes / 1e6, secs, rows / secs, bytes / 1e6 / secs);
  if (rt.stop_token().stop_requested())
    throw job_error(rt.stop_reason() +
                    ": stopped before every table was copied; run the same "
                    "command again to copy them");
  if (!failed.empty()) {
    std::string names;
    for (const auto& f : failed)
      names += (names.empty() ? "" : ", ") + f;
    throw job_error(fmt::format("{} table(s) failed: {} (see the log for the server's message)",
                                failed.size(), names));
  }
  return 0;
}

}  // namespace uringmig::engine
