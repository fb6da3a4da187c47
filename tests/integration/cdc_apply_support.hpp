// Helpers for the engine/cdc/apply integration tests: a source and a target database, a stream
// read and applied, both sides compared.
#pragma once

#include "codecs/pgoutput.hpp"
#include "connectors/postgres/connection.hpp"
#include "connectors/postgres/replication.hpp"
#include "engine/cdc/apply.hpp"
#include "io/runtime.hpp"
#include "tests/integration/replication_capture.hpp"
#include "tests/support/shared_cluster.hpp"

#include <gtest/gtest.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <boost/asio/use_awaitable.hpp>

namespace uringmig::test::cdc_apply {

namespace asio = boost::asio;
namespace pg = uringmig::connectors::postgres;
namespace pgo = uringmig::codecs::pgoutput;
namespace io = uringmig::io;
namespace cdc = uringmig::engine::cdc;
using uringmig::test::exec_sql;
using uringmig::test::fresh_database;
using uringmig::test::fresh_database_info;
using uringmig::test::query_value;
using namespace uringmig::test::repl;
using namespace std::literals;

/// Apply workers of the test running, and whether it coalesces (cdc_apply_w runs its cases with
/// 1 and 4 workers, and with 1 worker applying every change as its own statement).
inline std::size_t g_workers = 1;
inline bool g_coalesce = true;

/// A source and a target database with the same tables; the source publishes them as `pub`.
struct cdc_pair {
  fresh_database_info src;
  fresh_database_info dst;
  std::filesystem::path spool;

  cdc_pair(const std::string& name, const std::string& schema, const std::string& tables)
      : src(fresh_database(name + suffix() + "_src")),
        dst(fresh_database(name + suffix() + "_dst")) {
    sql(src, schema + "; CREATE PUBLICATION pub FOR TABLE " + tables);
    sql(dst, schema);
    spool = std::filesystem::temp_directory_path() / ("uringmig_cdc_spool_" + dst.name);
    std::filesystem::remove_all(spool);
  }
  ~cdc_pair() {
    // Origins are cluster-wide and each takes one of max_replication_slots (10 in the fixture):
    // drop this pair's, once the sessions that used them are gone.
    for (int attempt = 0; attempt < 100; ++attempt) {
      try {
        exec_sql(dst.conninfo,
                 "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin "
                 "WHERE roname LIKE 'uringmig_" +
                     dst.name + "%'");
        break;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(spool, ec);
  }

  static std::string suffix() {
    return (g_workers > 1 ? "_w" + std::to_string(g_workers) : "") + (g_coalesce ? "" : "_nc");
  }

  cdc::apply_options options(std::size_t batch = 2000) const {
    cdc::apply_options o;
    o.origin = "uringmig_" + dst.name;
    o.max_batch_statements = batch;
    o.max_group_changes = batch;
    o.coalesce = g_coalesce;
    o.spool_dir = spool;
    o.workers = g_workers;
    return o;
  }

  /// Both sides' rows of `table`, one text line per row in `order`.
  void expect_same(const std::string& table, const std::string& order,
                   const std::string& select = "t::text") const {
    const std::string q = "SELECT coalesce(string_agg(" + select + ", E'\\n' ORDER BY " + order +
                          "), '<empty>') FROM " + table + " t";
    const std::string a = query_value(src.conninfo, q);
    const std::string b = query_value(dst.conninfo, q);
    EXPECT_NE(a, "") << "table " << table;
    if (a == b) return;
    // Not EXPECT_EQ: gtest diffs two strings with an edit distance, quadratic in memory (a
    // 100 000-row table took 20 GB). Name the first line that differs instead.
    std::size_t line = 1, i = 0;
    for (; i < a.size() && i < b.size() && a[i] == b[i]; ++i)
      if (a[i] == '\n') ++line;
    auto line_at = [](const std::string& t, std::size_t at) {
      const std::size_t start = t.rfind('\n', at == 0 ? 0 : at - 1);
      const std::size_t from = start == std::string::npos || at == 0 ? 0 : start + 1;
      return t.substr(from, std::min<std::size_t>(t.find('\n', from) - from, 200));
    };
    ADD_FAILURE() << "table " << table << " differs at row " << line << " (source "
                  << std::count(a.begin(), a.end(), '\n') + 1 << " rows, target "
                  << std::count(b.begin(), b.end(), '\n') + 1 << "): source '" << line_at(a, i)
                  << "', target '" << line_at(b, i) << "'";
  }
  std::string target(const std::string& q) const { return query_value(dst.conninfo, q); }
};

/// What the test saw in the stream (decoded on the side), to prove a case was exercised.
struct seen {
  pgo::decoder dec{2};
  int units = 0;
  int stream_starts = 0;
  int subxact_aborts = 0;
  int top_aborts = 0;
  int unchanged_toast = 0;
  std::vector<pgo::lsn> ends;
  std::vector<std::vector<std::byte>> payloads;  // kept when `keep`
  bool keep = false;

  void add(std::span<const std::byte> p) {
    if (keep) payloads.emplace_back(p.begin(), p.end());
    auto r = dec.decode(p);
    ASSERT_TRUE(r) << r.error().to_string();
    const pgo::message& m = *r;
    if (const auto* c = std::get_if<pgo::commit_message>(&m)) {
      ++units;
      ends.push_back(c->end_lsn);
    }
    if (const auto* c = std::get_if<pgo::stream_commit_message>(&m)) {
      ++units;
      ends.push_back(c->end_lsn);
    }
    if (const auto* a = std::get_if<pgo::stream_abort_message>(&m)) {
      if (a->xid == a->subxid) {
        ++units;
        ++top_aborts;
      } else {
        ++subxact_aborts;
      }
    }
    if (std::holds_alternative<pgo::stream_start_message>(m)) ++stream_starts;
    if (const auto* l = std::get_if<pgo::logical_message>(&m)) {
      if (!l->transactional()) ++units;
    }
    if (const auto* u = std::get_if<pgo::update_message>(&m)) {
      for (const auto& c : u->new_tuple)
        unchanged_toast += c.is_unchanged_toast() ? 1 : 0;
    }
  }
};

/// Reads `units` more transactions (or non-transactional messages) from the stream, feeding each
/// message to `a` (when not null). After `limit` the stream is stopped so the test fails instead
/// of hanging.
inline asio::awaitable<void> apply_units(pg::replication_connection& rc, cdc::applier* a, seen& s,
                                         int units, std::chrono::seconds limit) {
  auto ex = co_await asio::this_coro::executor;
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer watchdog(ex, limit);
  watchdog.async_wait([&rc, ex, timed_out](boost::system::error_code ec) {
    if (ec) return;
    *timed_out = true;
    asio::co_spawn(ex, rc.stop(), [](std::exception_ptr) {});
  });
  const int goal = s.units + units;
  std::exception_ptr failure;
  try {
    while (s.units < goal) {
      std::optional<pg::wal_message> m = co_await rc.next();
      if (!m) break;
      s.add(m->payload);
      if (a != nullptr) co_await a->feed(m->payload);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  watchdog.cancel();
  EXPECT_FALSE(*timed_out) << "timed out after " << limit.count() << "s waiting for " << units
                           << " transactions";
  if (failure) std::rethrow_exception(failure);
}

inline asio::awaitable<cdc::applier> open_applier(const cdc_pair& p, cdc::apply_options o) {
  auto ex = co_await asio::this_coro::executor;
  o.connect = [ex, url = p.dst.socket_url]() { return pg::connection::connect(ex, url); };
  auto target = co_await pg::connection::connect(ex, p.dst.socket_url);
  co_return co_await cdc::applier::open(std::move(target), std::move(o));
}

/// Applies `units` transactions and commits them; the slot is told.
inline asio::awaitable<void> apply_and_flush(pg::replication_connection& rc, cdc::applier& a,
                                             seen& s, int units) {
  co_await apply_units(rc, &a, s, units, 60s);
  co_await a.flush();
  EXPECT_TRUE(a.idle());
  if (!s.ends.empty()) {
    EXPECT_EQ(a.committed_lsn(), s.ends.back());
  }
  rc.confirm(a.committed_lsn());
}

inline asio::awaitable<pg::replication_connection> start_stream(const cdc_pair& p,
                                                                std::string options) {
  auto ex = co_await asio::this_coro::executor;
  std::string conninfo = p.src.conninfo;
  if (!options.empty()) conninfo += " options='" + options + "'";
  auto rc = co_await pg::replication_connection::connect(ex, conninfo);
  auto slot = co_await rc.create_slot(p.src.name, temporary_slot());
  co_await rc.start(stream_from(slot));
  co_return rc;
}

/// Parameters: apply workers, coalesce.
class cdc_apply_w : public ::testing::TestWithParam<std::tuple<std::size_t, bool>> {
 protected:
  void SetUp() override {
    g_workers = std::get<0>(GetParam());
    g_coalesce = std::get<1>(GetParam());
  }
  void TearDown() override {
    g_workers = 1;
    g_coalesce = true;
  }
};

}  // namespace uringmig::test::cdc_apply
