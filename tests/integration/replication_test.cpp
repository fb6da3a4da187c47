// The logical replication connection against the fixture's PostgreSQL 15 (wal_level=logical):
// slots and exported snapshots, the pgoutput stream decoded by codecs/pgoutput, keepalives and
// standby status updates, restarts from a confirmed position, streamed large transactions.
#include "connectors/postgres/replication.hpp"
#include "codecs/pgoutput.hpp"
#include "io/runtime.hpp"
#include "tests/integration/replication_capture.hpp"
#include "tests/support/shared_cluster.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace pg = uringmig::connectors::postgres;
namespace pgo = uringmig::codecs::pgoutput;
namespace io = uringmig::io;
using uringmig::test::exec_sql;
using uringmig::test::fresh_database;
using uringmig::test::fresh_database_info;
using uringmig::test::query_value;
using namespace uringmig::test::repl;
using namespace std::literals;

TEST(replication, identify_system_describes_the_server) {
  auto db = fresh_database("repl_identify");
  io::runtime rt(1);
  auto id = rt.run([&]() -> asio::awaitable<pg::system_identity> {
    auto rc = co_await pg::replication_connection::connect(co_await asio::this_coro::executor,
                                                           db.tcp_url);
    co_return co_await rc.identify_system();
  }());
  EXPECT_EQ(id.system_id,
            query_value(db.conninfo, "SELECT system_identifier::text FROM pg_control_system()"));
  EXPECT_EQ(id.timeline, 1u);
  EXPECT_GT(id.xlogpos, 0u);
  const auto now = pgo::parse_lsn(query_value(db.conninfo, "SELECT pg_current_wal_flush_lsn()"));
  ASSERT_TRUE(now);
  EXPECT_LE(id.xlogpos, *now);
  EXPECT_EQ(id.dbname, db.name);
}

TEST(replication, exported_snapshot_sees_only_rows_before_the_slot) {
  auto db = fresh_database("repl_snapshot");
  make_table(db);
  sql(db, "INSERT INTO t SELECT g, 'before' FROM generate_series(1, 3) g");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await pg::replication_connection::connect(co_await asio::this_coro::executor,
                                                           db.tcp_url);
    pg::slot_options so;
    so.temporary = true;
    so.export_snapshot = true;
    auto slot = co_await rc.create_slot(db.name, so);
    EXPECT_EQ(slot.name, db.name);
    EXPECT_EQ(slot.output_plugin, "pgoutput");
    EXPECT_FALSE(slot.snapshot_name.empty());
    EXPECT_GT(slot.consistent_point, 0u);
    sql(db, "INSERT INTO t VALUES (4, 'after'), (5, 'after')");

    // A copy worker's session: the exported snapshot holds exactly the rows before the slot.
    PGconn* reader = PQconnectdb(db.conninfo.c_str());
    EXPECT_EQ(PQstatus(reader), CONNECTION_OK);
    auto run = [reader](const std::string& text) {
      PGresult* r = PQexec(reader, text.c_str());
      std::string v = "ok";
      if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        v = PQgetvalue(r, 0, 0);
      } else if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        v = std::string("error: ") + PQresultErrorMessage(r);
      }
      PQclear(r);
      return v;
    };
    EXPECT_EQ(run("BEGIN ISOLATION LEVEL REPEATABLE READ"), "ok");
    EXPECT_EQ(run("SET TRANSACTION SNAPSHOT '" + slot.snapshot_name + "'"), "ok");
    EXPECT_EQ(run("SELECT string_agg(id::text, ',' ORDER BY id) FROM t"), "1,2,3");
    EXPECT_EQ(run("COMMIT"), "ok");
    EXPECT_EQ(run("SELECT count(*) FROM t"), "5");

    // The stream from the consistent point holds the rest: no gap, no overlap.
    co_await rc.start(stream_from(slot));
    // START_REPLICATION was the next command: the snapshot is gone.
    EXPECT_EQ(run("BEGIN ISOLATION LEVEL REPEATABLE READ"), "ok");
    EXPECT_NE(run("SET TRANSACTION SNAPSHOT '" + slot.snapshot_name + "'").find("error"),
              std::string::npos);
    EXPECT_EQ(run("ROLLBACK"), "ok");
    PQfinish(reader);

    capture cap;
    pgo::decoder dec(rc.proto_version());
    co_await read_units(rc, dec, cap, 1, 30s);
    const std::vector<std::string> want = {"begin", "relation public.t", "insert t 4|after",
                                           "insert t 5|after", "commit"};
    EXPECT_EQ(cap.events, want);
    EXPECT_GT(cap.ends.at(0), slot.consistent_point);
    co_await rc.stop();
  }());
}

TEST(replication, streams_changes_after_the_slot_as_pgoutput) {
  auto db = fresh_database("repl_dml");
  make_table(db);
  sql(db, "INSERT INTO t VALUES (1, 'one')");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await pg::replication_connection::connect(co_await asio::this_coro::executor,
                                                           db.tcp_url);
    auto slot = co_await rc.create_slot(db.name, temporary_slot());
    EXPECT_TRUE(slot.snapshot_name.empty());
    co_await rc.start(stream_from(slot));
    EXPECT_TRUE(rc.is_streaming());
    EXPECT_EQ(rc.proto_version(), 2u);  // PostgreSQL 15: proto 2, streaming on
    sql(db, "INSERT INTO t VALUES (2, 'two'), (3, NULL)");
    sql(db, "UPDATE t SET v = 'uno' WHERE id = 1");
    sql(db, "DELETE FROM t WHERE id = 3");
    sql(db, "BEGIN; UPDATE t SET v = 'dos' WHERE id = 2; ROLLBACK");  // never in the stream
    sql(db, "SELECT pg_logical_emit_message(true, 'uringmig', 'sentinel')");
    sql(db, "SELECT pg_logical_emit_message(false, 'uringmig', 'loose')");

    capture cap;
    pgo::decoder dec(rc.proto_version());
    co_await read_units(rc, dec, cap, 5, 30s);
    const std::vector<std::string> want = {"begin",
                                           "relation public.t",
                                           "insert t 2|two",
                                           "insert t 3|null",
                                           "commit",
                                           "begin",
                                           "update t 1|uno",
                                           "commit",
                                           "begin",
                                           "delete t 3|null",
                                           "commit",
                                           "begin",
                                           "message uringmig:sentinel",
                                           "commit",
                                           "message uringmig:loose (non-transactional)"};
    EXPECT_EQ(cap.events, want);
    for (std::size_t i = 1; i < cap.ends.size(); ++i)
      EXPECT_LT(cap.ends[i - 1], cap.ends[i]);
    EXPECT_GE(rc.server_wal_end(), cap.ends.back());
    EXPECT_EQ(rc.counters().messages, cap.events.size());
    EXPECT_GT(rc.server_time().time_since_epoch().count(), 0);
    co_await rc.stop();
    EXPECT_FALSE(rc.is_streaming());
    // After a clean stop the connection takes commands again.
    auto id = co_await rc.identify_system();
    EXPECT_EQ(id.dbname, db.name);
  }());
}

TEST(replication, wait_for_message_times_out_on_a_quiet_stream_and_wakes_for_a_change) {
  auto db = fresh_database("repl_wait");
  make_table(db);
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await pg::replication_connection::connect(co_await asio::this_coro::executor,
                                                           db.tcp_url);
    auto slot = co_await rc.create_slot(db.name, temporary_slot());
    co_await rc.start(stream_from(slot));
    // Nothing happens on the source: the wait ends by its limit, not before.
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(co_await rc.wait_for_message(std::chrono::milliseconds(50)));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
    EXPECT_FALSE(rc.has_buffered());
    // A change: the wait ends with it (long before its limit), and next() has it at once.
    sql(db, "INSERT INTO t VALUES (1, 'one')");
    const auto t1 = std::chrono::steady_clock::now();
    EXPECT_TRUE(co_await rc.wait_for_message(std::chrono::seconds(60)));
    EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(30));
    EXPECT_TRUE(rc.has_buffered());
    capture cap;
    pgo::decoder dec(rc.proto_version());
    co_await read_units(rc, dec, cap, 1, 30s);
    EXPECT_EQ(cap.events.size(), 4u);  // begin, relation, insert, commit
    // After a timed-out wait, next() still works (the timer left nothing parked).
    EXPECT_FALSE(co_await rc.wait_for_message(std::chrono::milliseconds(1)));
    sql(db, "INSERT INTO t VALUES (2, 'two')");
    co_await read_units(rc, dec, cap, 1, 30s);
    EXPECT_EQ(cap.events.size(), 7u);
    co_await rc.stop();
  }());
}

TEST(replication, status_updates_report_only_the_confirmed_lsn) {
  auto db = fresh_database("repl_status");
  make_table(db);
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await pg::replication_connection::connect(co_await asio::this_coro::executor,
                                                           db.tcp_url);
    auto slot = co_await rc.create_slot(db.name, temporary_slot());
    auto opts = stream_from(slot);
    opts.status_interval = 200ms;
    co_await rc.start(std::move(opts));
    const int pid = rc.backend_pid();
    sql(db, "INSERT INTO t VALUES (1, 'one')");
    sql(db, "INSERT INTO t VALUES (2, 'two')");
    capture cap;
    pgo::decoder dec(rc.proto_version());
    co_await read_units(rc, dec, cap, 2, 30s);
    if (cap.ends.size() != 2) co_return;

    // Received is not flushed: nothing was confirmed, nothing is reported.
    co_await sleep_for(600ms);
    EXPECT_EQ(walsender_value(db, pid, "flush_lsn"), "none");
    EXPECT_GE(rc.counters().status_updates, 2u);

    // Idle (no next()) for more than twice the interval: the owner keeps reporting.
    rc.confirm(cap.ends[0]);
    rc.confirm(cap.ends[0] - 1);  // never backwards
    EXPECT_EQ(rc.confirmed_lsn(), cap.ends[0]);
    const auto updates = rc.counters().status_updates;
    co_await sleep_for(1000ms);
    EXPECT_GE(rc.counters().status_updates, updates + 3);
    const std::string confirmed = pgo::format_lsn(cap.ends[0]);
    EXPECT_EQ(walsender_value(db, pid, "flush_lsn"), confirmed);
    EXPECT_EQ(walsender_value(db, pid, "write_lsn"), confirmed);
    EXPECT_EQ(walsender_value(db, pid, "replay_lsn"), confirmed);
    EXPECT_EQ(query_value(db.conninfo,
                          "SELECT confirmed_flush_lsn FROM pg_replication_slots "
                          "WHERE slot_name = '" +
                              slot.name + "'"),
              confirmed);
    EXPECT_LT(cap.ends[0], cap.ends[1]);  // the second transaction was read, not reported

    // Still alive and streaming.
    sql(db, "INSERT INTO t VALUES (3, 'three')");
    co_await read_units(rc, dec, cap, 1, 30s);
    EXPECT_EQ(cap.events.at(cap.events.size() - 2), "insert t 3|three");
    EXPECT_EQ(walsender_value(db, pid, "flush_lsn"), confirmed);
    co_await rc.stop();
  }());
}

TEST(replication, answers_keepalive_requests_at_once) {
  auto db = fresh_database("repl_keepalive");
  make_table(db);
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    // The server asks for a reply after 0.5 s of silence and drops us after 1 s; our own
    // status interval is far longer, so only the answers keep the connection alive.
    auto rc = co_await pg::replication_connection::connect(
        co_await asio::this_coro::executor, db.conninfo + " options='-c wal_sender_timeout=1000'");
    auto slot = co_await rc.create_slot(db.name, temporary_slot());
    auto opts = stream_from(slot);
    opts.status_interval = 60s;
    co_await rc.start(std::move(opts));
    const int pid = rc.backend_pid();
    co_await sleep_for(3500ms);
    EXPECT_GE(rc.counters().replies_requested, 3u);
    EXPECT_GE(rc.counters().status_updates, rc.counters().replies_requested);
    EXPECT_EQ(walsender_value(db, pid, "state"), "streaming");
    sql(db, "INSERT INTO t VALUES (1, 'one')");
    capture cap;
    pgo::decoder dec(rc.proto_version());
    co_await read_units(rc, dec, cap, 1, 30s);
    EXPECT_EQ(cap.events.size(), 4u);
    co_await rc.stop();
  }());
}

TEST(replication, heartbeats_while_a_message_waits_for_the_caller) {
  auto db = fresh_database("repl_heartbeat");
  make_table(db);
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    // Timeout 1.5 s, so status updates every 0.5 s while the read-ahead message waits: the
    // server's requests go unread meanwhile.
    auto rc = co_await pg::replication_connection::connect(
        co_await asio::this_coro::executor, db.conninfo + " options='-c wal_sender_timeout=1500'");
    auto slot = co_await rc.create_slot(db.name, temporary_slot());
    auto opts = stream_from(slot);
    opts.status_interval = 60s;
    co_await rc.start(std::move(opts));
    const int pid = rc.backend_pid();
    sql(db, "INSERT INTO t VALUES (1, 'one')");
    sql(db, "INSERT INTO t VALUES (2, 'two')");
    capture cap;
    pgo::decoder dec(rc.proto_version());
    std::optional<pg::wal_message> first = co_await rc.next();
    EXPECT_TRUE(first);
    if (!first) co_return;
    auto res = dec.decode(first->payload);
    EXPECT_TRUE(res);
    if (res) cap.add(*res, dec, static_cast<char>(first->payload[0]));
    const auto before = rc.counters();
    co_await sleep_for(4000ms);  // the caller is "busy": no next()
    EXPECT_GE(rc.counters().status_updates, before.status_updates + 5);
    // Nothing was read meanwhile: the heartbeats, not answers to requests, kept it alive.
    EXPECT_EQ(rc.counters().keepalives, before.keepalives);
    EXPECT_EQ(walsender_value(db, pid, "state"), "streaming");
    co_await read_units(rc, dec, cap, 2, 30s);
    const std::vector<std::string> want = {"begin", "relation public.t", "insert t 1|one", "commit",
                                           "begin", "insert t 2|two",    "commit"};
    EXPECT_EQ(cap.events, want);
    co_await rc.stop();
  }());
}

TEST(replication, restart_resumes_after_the_confirmed_lsn) {
  auto db = fresh_database("repl_restart");
  make_table(db);
  slot_cleanup cleanup{db.conninfo, db.name};
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto rc = co_await pg::replication_connection::connect(ex, db.tcp_url);
    pg::slot_options so;
    so.export_snapshot = false;
    auto slot = co_await rc.create_slot(db.name, so);
    sql(db, "INSERT INTO t VALUES (1, 'a')");
    sql(db, "INSERT INTO t VALUES (2, 'b')");
    co_await rc.start(stream_from(slot));
    capture first;
    pgo::decoder dec(rc.proto_version());
    co_await read_units(rc, dec, first, 2, 30s);
    if (first.ends.size() != 2) co_return;
    rc.confirm(first.ends[0]);  // only the first transaction was "applied"
    co_await rc.stop();         // the final status update carries it
    bool refused = false;
    try {
      co_await rc.start(stream_from(slot));
    } catch (const std::logic_error&) {
      refused = true;  // PostgreSQL would end a second stream on this walsender at once
    }
    EXPECT_TRUE(refused);
    co_await rc.close();
    EXPECT_EQ(query_value(db.conninfo,
                          "SELECT confirmed_flush_lsn FROM pg_replication_slots "
                          "WHERE slot_name = '" +
                              slot.name + "'"),
              pgo::format_lsn(first.ends[0]));

    // From the slot's position: the second transaction again, not the first.
    auto rc2 = co_await pg::replication_connection::connect(ex, db.tcp_url);
    pg::stream_options again = stream_from(slot);
    again.start = 0;
    co_await rc2.start(std::move(again));
    capture second;
    pgo::decoder dec2(rc2.proto_version());
    co_await read_units(rc2, dec2, second, 1, 30s);
    const std::vector<std::string> want2 = {"begin", "relation public.t", "insert t 2|b", "commit"};
    EXPECT_EQ(second.events, want2);
    EXPECT_EQ(second.ends, std::vector<pgo::lsn>{first.ends[1]});
    rc2.confirm(first.ends[1]);
    co_await rc2.stop();
    co_await rc2.close();

    // Everything confirmed: nothing is delivered twice, new work arrives.
    auto rc3 = co_await pg::replication_connection::connect(ex, db.tcp_url);
    pg::stream_options resume = stream_from(slot);
    resume.start = first.ends[0];  // older than the slot: the server starts at its position
    co_await rc3.start(std::move(resume));
    sql(db, "INSERT INTO t VALUES (3, 'c')");
    capture third;
    pgo::decoder dec3(rc3.proto_version());
    co_await read_units(rc3, dec3, third, 1, 30s);
    const std::vector<std::string> want3 = {"begin", "relation public.t", "insert t 3|c", "commit"};
    EXPECT_EQ(third.events, want3);
    co_await rc3.stop();
    co_await rc3.drop_slot(slot.name);
    EXPECT_EQ(query_value(db.conninfo,
                          "SELECT count(*) FROM pg_replication_slots "
                          "WHERE slot_name = '" +
                              slot.name + "'"),
              "0");
  }());
}

TEST(replication, large_transaction_streams_with_proto_2) {
  auto db = fresh_database("repl_large");
  make_table(db);
  constexpr int rows = 3000;
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    // logical_decoding_work_mem is a per-session setting: 64kB on these walsenders only, so
    // tests running in parallel on the shared cluster are not affected.
    const std::string small_mem = db.conninfo + " options='-c logical_decoding_work_mem=64kB'";
    auto streamed = co_await pg::replication_connection::connect(ex, small_mem);
    auto whole = co_await pg::replication_connection::connect(ex, small_mem);
    auto slot2 = co_await streamed.create_slot(db.name + "_2", temporary_slot());
    auto slot1 = co_await whole.create_slot(db.name + "_1", temporary_slot());
    co_await streamed.start(stream_from(slot2));
    auto opts1 = stream_from(slot1);
    opts1.proto_version = 1;
    co_await whole.start(std::move(opts1));
    EXPECT_EQ(streamed.proto_version(), 2u);
    EXPECT_EQ(whole.proto_version(), 1u);

    sql(db, "INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, " +
                std::to_string(rows) + ") g");
    sql(db, "INSERT INTO t VALUES (0, 'small')");

    capture s;
    pgo::decoder dec2(2);
    co_await read_units(streamed, dec2, s, 2, 60s);
    EXPECT_GE(s.counts['S'], 2) << "expected several stream blocks";
    EXPECT_EQ(s.counts['S'], s.counts['E']);
    EXPECT_EQ(s.counts['c'], 1);
    EXPECT_EQ(s.counts['I'], rows + 1);
    EXPECT_EQ(s.streamed_changes, rows);
    EXPECT_EQ(s.counts['B'], 1);  // only the small transaction has Begin/Commit
    EXPECT_EQ(s.counts['C'], 1);
    EXPECT_EQ(s.events.front(), "stream start first");
    EXPECT_FALSE(dec2.in_stream_block());
    const std::vector<std::string> tail = {"begin", "insert t 0|small", "commit"};
    EXPECT_EQ(std::vector<std::string>(s.events.end() - 3, s.events.end()), tail);

    capture w;
    pgo::decoder dec1(1);
    co_await read_units(whole, dec1, w, 2, 60s);
    EXPECT_EQ(w.counts['S'], 0);
    EXPECT_EQ(w.counts['B'], 2);
    EXPECT_EQ(w.counts['I'], rows + 1);
    EXPECT_EQ(w.ends, s.ends);  // the same transactions, the same end LSNs

    co_await streamed.stop();
    co_await whole.stop();
  }());
}

TEST(replication, bad_requests_are_clear_errors) {
  auto db = fresh_database("repl_errors");
  make_table(db);
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await pg::replication_connection::connect(co_await asio::this_coro::executor,
                                                           db.tcp_url);
    bool invalid = false;
    try {
      co_await rc.create_slot("Not-Valid", temporary_slot());
    } catch (const std::invalid_argument&) {
      invalid = true;
    }
    EXPECT_TRUE(invalid);

    auto slot = co_await rc.create_slot(db.name, temporary_slot());
    std::string state;
    try {
      co_await rc.create_slot(db.name, temporary_slot());
    } catch (const pg::error& e) {
      state = e.diag().sqlstate;
    }
    EXPECT_EQ(state, "42710");  // duplicate_object: the slot name is in use

    pg::stream_options missing = stream_from(slot);
    missing.slot = "no_such_slot";
    state.clear();
    try {
      co_await rc.start(std::move(missing));
    } catch (const pg::error& e) {
      state = e.diag().sqlstate;
    }
    EXPECT_EQ(state, "42704");  // undefined_object
    EXPECT_FALSE(rc.is_streaming());

    // The server dropped the session's temporary slot while cleaning up after that error.
    EXPECT_EQ(query_value(db.conninfo,
                          "SELECT count(*) FROM pg_replication_slots "
                          "WHERE slot_name = '" +
                              slot.name + "'"),
              "0");
    slot = co_await rc.create_slot(db.name, temporary_slot());

    // A publication that does not exist fails when the first change is decoded.
    pg::stream_options nopub = stream_from(slot);
    nopub.publications = std::vector<std::string>{"no_such_pub"};
    co_await rc.start(std::move(nopub));
    sql(db, "INSERT INTO t VALUES (1, 'one')");
    state.clear();
    try {
      for (;;) {
        std::optional<pg::wal_message> m = co_await rc.next();
        if (!m) break;
      }
    } catch (const pg::error& e) {
      state = e.diag().sqlstate;
    }
    EXPECT_EQ(state, "42704");
    auto id = co_await rc.identify_system();  // the connection survives a stream error
    EXPECT_EQ(id.dbname, db.name);
  }());
}

TEST(replication, destroying_a_streaming_connection_ends_its_walsender) {
  auto db = fresh_database("repl_destroy");
  make_table(db);
  io::runtime rt(1);
  const int pid = rt.run([&]() -> asio::awaitable<int> {
    auto rc = co_await pg::replication_connection::connect(co_await asio::this_coro::executor,
                                                           db.tcp_url);
    auto slot = co_await rc.create_slot(db.name, temporary_slot());
    co_await rc.start(stream_from(slot));
    sql(db, "INSERT INTO t VALUES (1, 'one')");
    std::optional<pg::wal_message> m = co_await rc.next();  // one held, one read ahead
    EXPECT_TRUE(m);
    co_return rc.backend_pid();  // the handle goes: no stop(), no close()
  }());
  std::string left = "1";
  for (int i = 0; i < 100 && left != "0"; ++i) {
    std::this_thread::sleep_for(50ms);
    left = query_value(db.conninfo,
                       "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid));
  }
  EXPECT_EQ(left, "0");
}

TEST(replication, option_text) {
  EXPECT_TRUE(pg::valid_slot_name("uringmig_slot_1"));
  EXPECT_FALSE(pg::valid_slot_name(""));
  EXPECT_FALSE(pg::valid_slot_name("Upper"));
  EXPECT_FALSE(pg::valid_slot_name("a-b"));
  EXPECT_FALSE(pg::valid_slot_name(std::string(64, 'a')));
  EXPECT_TRUE(pg::valid_slot_name(std::string(63, 'a')));
  EXPECT_EQ(pg::publication_names_option({"pub"}), "'\"pub\"'");
  EXPECT_EQ(pg::publication_names_option({"a,b", "O'Neil", "q\"x"}),
            "'\"a,b\",\"O''Neil\",\"q\"\"x\"'");
  EXPECT_EQ(pg::parse_time_setting("1min"), 60s);
  EXPECT_EQ(pg::parse_time_setting("1500ms"), 1500ms);
  EXPECT_EQ(pg::parse_time_setting("2s"), 2s);
  EXPECT_EQ(pg::parse_time_setting("0"), 0ms);
  EXPECT_EQ(pg::parse_time_setting("1h"), 1h);
  EXPECT_EQ(pg::parse_time_setting("1d"), 24h);
  EXPECT_EQ(pg::parse_time_setting("2000us"), 2ms);
  EXPECT_EQ(pg::parse_time_setting("-1"), std::nullopt);
  EXPECT_EQ(pg::parse_time_setting("soon"), std::nullopt);
  EXPECT_EQ(pg::parse_time_setting("5 fortnights"), std::nullopt);
}
