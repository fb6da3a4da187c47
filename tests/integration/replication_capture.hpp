// Helpers for tests/integration/replication_test.cpp: a replication stream read, decoded with
// codecs/pgoutput and written down as one line per message.
#pragma once

#include "codecs/pgoutput.hpp"
#include "connectors/postgres/replication.hpp"
#include "tests/support/shared_cluster.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace uringmig::test::repl {

namespace asio = boost::asio;
namespace pg = uringmig::connectors::postgres;
namespace pgo = uringmig::codecs::pgoutput;
using namespace std::literals;

/// Statements in one session that commits synchronously (the fixture runs with
/// synchronous_commit off, and the walsender sends only flushed WAL).
inline void sql(const fresh_database_info& db, const std::string& text) {
  exec_sql(db.conninfo, "SET synchronous_commit = on; " + text);
}

inline std::string tuple_text(std::span<const pgo::column_value> cols) {
  std::string out;
  for (const auto& c : cols) {
    if (!out.empty()) out += '|';
    if (c.is_null()) {
      out += "null";
    } else if (c.is_unchanged_toast()) {
      out += "unchanged";
    } else {
      out += c.data;
    }
  }
  return out;
}

/// What a stream delivered, decoded: one line per message ("begin", "insert t 4|four"...),
/// the end LSN of each transaction, counts per message type.
struct capture {
  std::vector<std::string> events;
  std::vector<pgo::lsn> ends;  // Commit / Stream Commit end_lsn, in order
  std::map<char, int> counts;  // by first byte
  std::map<std::uint32_t, std::string> relations;
  int streamed_changes = 0;  // DML inside stream blocks, carrying the block's xid
  int units = 0;             // transactions ended + non-transactional messages
  std::uint64_t max_payload = 0;

  void add(const pgo::message& m, const pgo::decoder& dec, char type) {
    ++counts[type];
    std::string e;
    if (std::holds_alternative<pgo::begin_message>(m)) e = "begin";
    if (const auto* c = std::get_if<pgo::commit_message>(&m)) {
      e = "commit";
      ends.push_back(c->end_lsn);
      ++units;
    }
    if (const auto* r = std::get_if<pgo::relation_message>(&m)) {
      relations[r->oid] = std::string(r->relname);
      e = "relation " + std::string(r->nspname) + "." + std::string(r->relname);
    }
    if (const auto* i = std::get_if<pgo::insert_message>(&m)) {
      e = "insert " + relations[i->relation_oid] + " " + tuple_text(i->new_tuple);
      if (i->xid && dec.in_stream_block() && *i->xid == dec.stream_xid()) ++streamed_changes;
    }
    if (const auto* u = std::get_if<pgo::update_message>(&m))
      e = "update " + relations[u->relation_oid] + " " + tuple_text(u->new_tuple);
    if (const auto* d = std::get_if<pgo::delete_message>(&m))
      e = "delete " + relations[d->relation_oid] + " " + tuple_text(d->old_tuple);
    if (const auto* l = std::get_if<pgo::logical_message>(&m)) {
      e = "message " + std::string(l->prefix) + ":" + std::string(l->content);
      if (!l->transactional()) {
        e += " (non-transactional)";
        ++units;
      }
    }
    if (const auto* s = std::get_if<pgo::stream_start_message>(&m))
      e = s->first_segment ? "stream start first" : "stream start";
    if (std::holds_alternative<pgo::stream_stop_message>(m)) e = "stream stop";
    if (const auto* c = std::get_if<pgo::stream_commit_message>(&m)) {
      e = "stream commit";
      ends.push_back(c->end_lsn);
      ++units;
    }
    if (std::holds_alternative<pgo::stream_abort_message>(m)) {
      e = "stream abort";
      ++units;
    }
    if (!e.empty()) events.push_back(std::move(e));
  }
};

/// Reads and decodes until `units` more transactions (or non-transactional messages) ended.
/// After `limit` the stream is stopped, so a missing message fails the test instead of hanging.
inline asio::awaitable<void> read_units(pg::replication_connection& rc, pgo::decoder& dec,
                                        capture& cap, int units, std::chrono::seconds limit) {
  auto ex = co_await asio::this_coro::executor;
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer watchdog(ex, limit);
  watchdog.async_wait([&rc, ex, timed_out](boost::system::error_code ec) {
    if (ec) return;
    *timed_out = true;
    asio::co_spawn(ex, rc.stop(), [](std::exception_ptr) {});
  });
  const int goal = cap.units + units;
  while (cap.units < goal) {
    std::optional<pg::wal_message> m = co_await rc.next();
    if (!m) break;
    EXPECT_FALSE(m->payload.empty());
    cap.max_payload = std::max<std::uint64_t>(cap.max_payload, m->payload.size());
    const char type = static_cast<char>(m->payload[0]);
    auto res = dec.decode(m->payload);
    EXPECT_TRUE(res) << res.error().to_string();
    if (res) cap.add(*res, dec, type);
  }
  watchdog.cancel();
  EXPECT_FALSE(*timed_out) << "timed out after " << limit.count() << "s waiting for " << units
                           << " transactions; got " << cap.events.size() << " messages";
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

inline pg::slot_options temporary_slot() {
  pg::slot_options o;
  o.temporary = true;
  o.export_snapshot = false;
  return o;
}

inline pg::stream_options stream_from(const pg::replication_slot& slot) {
  pg::stream_options o;
  o.slot = slot.name;
  o.start = slot.consistent_point;
  o.publications.push_back("pub");
  return o;
}

inline std::string walsender_value(const fresh_database_info& db, int pid,
                                   const std::string& column) {
  return query_value(db.conninfo, "SELECT coalesce(" + column +
                                      "::text, 'none') FROM pg_stat_replication WHERE pid = " +
                                      std::to_string(pid));
}

/// Drops a permanent slot once its walsender let go (after the runtime closed everything).
struct slot_cleanup {
  std::string conninfo;
  std::string name;
  ~slot_cleanup() {
    for (int i = 0; i < 200; ++i) {
      try {
        const std::string where = " FROM pg_replication_slots WHERE slot_name = '" + name + "'";
        if (query_value(conninfo, "SELECT count(*)" + where) == "0") return;
        exec_sql(conninfo,
                 "SELECT pg_drop_replication_slot(slot_name)" + where + " AND NOT active");
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(50ms);
    }
  }
};

inline void make_table(const fresh_database_info& db) {
  sql(db,
      "CREATE TABLE t (id int PRIMARY KEY, v text); "
      "CREATE PUBLICATION pub FOR TABLE t");
}

}  // namespace uringmig::test::repl
