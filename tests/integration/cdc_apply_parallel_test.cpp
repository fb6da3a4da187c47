// engine/cdc/apply with several workers (apply_options::workers): a concurrent random workload
// from several source sessions, a crash mid-stream, per-row ordering, and apply rates.
#include "tests/integration/cdc_apply_support.hpp"

#include <thread>

using namespace uringmig::test::cdc_apply;

namespace {

constexpr const char* parallel_schema =
    "CREATE TABLE k (id int PRIMARY KEY, v text, n int); "
    "INSERT INTO k SELECT g, 'v' || g, 0 FROM generate_series(1, 2000) g; "
    "CREATE TABLE hot (id int PRIMARY KEY, cnt int, last int); "
    "INSERT INTO hot SELECT g, 0, 0 FROM generate_series(1, 10) g; "
    "CREATE TABLE f (a int, b text); ALTER TABLE f REPLICA IDENTITY FULL; "
    "CREATE TABLE log (session int, i int)";

/// Reads the stream into `s` (payloads kept) until the logical message 'test.end' `tag`.
asio::awaitable<void> collect_until(pg::replication_connection& rc, seen& s, std::string tag) {
  auto ex = co_await asio::this_coro::executor;
  bool timed_out = false;
  asio::steady_timer watchdog(ex, std::chrono::seconds(300));
  watchdog.async_wait([&rc, ex, &timed_out](boost::system::error_code ec) {
    if (ec) return;
    timed_out = true;
    asio::co_spawn(ex, rc.stop(), [](std::exception_ptr) {});
  });
  pgo::decoder dec{2};
  s.keep = true;
  for (;;) {
    std::optional<pg::wal_message> m = co_await rc.next();
    if (!m) break;
    s.add(m->payload);
    auto r = dec.decode(m->payload);
    if (!r) break;
    const auto* l = std::get_if<pgo::logical_message>(&*r);
    if (l != nullptr && l->prefix == "test.end" && l->content == tag) break;
  }
  watchdog.cancel();
  EXPECT_FALSE(timed_out);
}

void end_marker(const cdc_pair& p, const std::string& tag) {
  sql(p.src, "SELECT pg_logical_emit_message(false, 'test.end', '" + tag + "')");
}

/// Four sessions at once, each 300 transactions: inserts, hot-row updates, key changes,
/// deletes, multi-row updates, a REPLICA IDENTITY FULL table; a TRUNCATE of it in the middle.
void concurrent_workload(const cdc_pair& p) {
  std::vector<std::thread> sessions;
  for (int s = 1; s <= 4; ++s) {
    const std::string S = std::to_string(s);
    sessions.emplace_back([&p, S] {
      exec_sql(
          p.src.conninfo,
          "DO $$ DECLARE r int; x int; BEGIN FOR i IN 1..300 LOOP BEGIN "
          "r := floor(random() * 10); "
          "IF r < 2 THEN INSERT INTO k VALUES (" +
              S +
              " * 100000 + i, 'ins', 0); "
              "ELSIF r < 5 THEN UPDATE hot SET cnt = cnt + 1, last = " +
              S +
              " WHERE id = 1 + floor(random() * 10)::int; "
              "ELSIF r < 6 THEN SELECT id INTO x FROM k WHERE id < 1000000 ORDER BY random() "
              "LIMIT 1; UPDATE k SET id = id + 1000000 WHERE id = x; "
              "ELSIF r < 7 THEN SELECT id INTO x FROM k ORDER BY random() LIMIT 1; "
              "DELETE FROM k WHERE id = x; "
              "ELSIF r < 8 THEN INSERT INTO f VALUES (i % 7, 's" +
              S +
              "'); "
              "UPDATE f SET b = b || 'y' WHERE ctid = (SELECT ctid FROM f WHERE a = i % 5 LIMIT "
              "1); "
              "ELSIF r < 9 THEN DELETE FROM f WHERE ctid = (SELECT ctid FROM f WHERE a = i % 3 "
              "LIMIT 1); "
              "ELSE UPDATE k SET v = v || 'u', n = n + 1 WHERE id % 13 = i % 13; END IF; "
              "INSERT INTO log VALUES (" +
              S +
              ", i); "
              "EXCEPTION WHEN deadlock_detected OR unique_violation THEN NULL; END; "
              "COMMIT; END LOOP; END $$");
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  sql(p.src, "TRUNCATE f");
  for (auto& t : sessions)
    t.join();
}

void expect_all_same(const cdc_pair& p) {
  p.expect_same("k", "id");
  p.expect_same("hot", "id");
  p.expect_same("f", "a, b");
  p.expect_same("log", "session, i");
}

}  // namespace

TEST(cdc_apply_parallel, concurrent_workload_then_crash_and_resume_exactly_once) {
  cdc_pair p("cdc_par", parallel_schema, "k, hot, f, log");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto rc = co_await pg::replication_connection::connect(ex, p.src.conninfo);
    auto slot = co_await rc.create_slot(p.src.name, temporary_slot());
    concurrent_workload(p);
    end_marker(p, "done");
    co_await rc.start(stream_from(slot));
    seen all;
    co_await collect_until(rc, all, "done");
    co_await rc.stop();
    EXPECT_GT(all.ends.size(), 1000u);
    if (all.ends.size() < 2) co_return;

    // Cut with work in flight on several workers, drop, reopen, feed the whole stream again.
    g_workers = 4;
    pgo::lsn committed = 0;
    {
      auto a = co_await open_applier(p, p.options(50));
      asio::steady_timer pause(ex);
      const std::size_t cut = all.payloads.size() * 3 / 5;
      for (std::size_t i = 0; i < cut; ++i) {
        co_await a.feed(all.payloads[i]);
        if (i % 50 == 49) {
          pause.expires_after(std::chrono::milliseconds(1));
          co_await pause.async_wait(asio::use_awaitable);
        }
      }
      committed = a.committed_lsn();
      EXPECT_FALSE(a.idle());
    }
    EXPECT_GT(committed, all.ends.front());
    EXPECT_LT(committed, all.ends.back());
    {
      auto a = co_await open_applier(p, p.options(50));
      EXPECT_GE(a.origin_lsn(), committed);
      EXPECT_NE(std::find(all.ends.begin(), all.ends.end(), a.origin_lsn()), all.ends.end());
      for (const auto& payload : all.payloads)
        co_await a.feed(payload);
      co_await a.flush();
      EXPECT_TRUE(a.idle());
      EXPECT_EQ(a.committed_lsn(), all.ends.back());
      EXPECT_GT(a.stats().groups, 4u);
    }
    expect_all_same(p);
    EXPECT_EQ(p.target("SELECT count(*) FROM log"),
              query_value(p.src.conninfo, "SELECT count(*) FROM log"));
    // One worker now (another worker count): everything is known as applied.
    g_workers = 1;
    {
      auto a = co_await open_applier(p, p.options());
      EXPECT_EQ(a.origin_lsn(), all.ends.back());
      for (const auto& payload : all.payloads)
        co_await a.feed(payload);
      co_await a.flush();
      EXPECT_EQ(a.stats().txns, 0u);
    }
    expect_all_same(p);
  }());
}

TEST(cdc_apply_parallel, concurrent_workload_streamed_live_with_four_workers) {
  g_workers = 4;
  cdc_pair p("cdc_par_live", parallel_schema, "k, hot, f, log");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    concurrent_workload(p);
    sql(p.src, "SELECT pg_logical_emit_message(false, 'uringmig.switchover', 'end')");
    for (;;) {
      std::optional<pg::wal_message> m = co_await rc.next();
      if (!m) break;
      co_await a.feed(m->payload);
      if (a.take_sentinel()) break;
      if (!rc.has_buffered() && !a.idle()) co_await a.flush();
    }
    co_await a.flush();
    EXPECT_TRUE(a.idle());
    expect_all_same(p);
    co_await rc.stop();
  }());
  g_workers = 1;
}

TEST(cdc_apply_parallel, a_row_updated_in_1000_transactions_ends_with_the_last_value) {
  g_workers = 4;
  cdc_pair p("cdc_par_order",
             "CREATE TABLE k (id int PRIMARY KEY, v text, n int); "
             "INSERT INTO k SELECT g, '', 0 FROM generate_series(1, 60) g",
             "k");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto rc = co_await pg::replication_connection::connect(ex, p.src.conninfo);
    auto slot = co_await rc.create_slot(p.src.name, temporary_slot());
    exec_sql(p.src.conninfo,
             "DO $$ BEGIN FOR i IN 1..1000 LOOP "
             "UPDATE k SET v = 'v' || i, n = i WHERE id = 1; COMMIT; "
             "UPDATE k SET n = n + 1 WHERE id = 2 + i % 50; COMMIT; END LOOP; END $$");
    end_marker(p, "done");
    co_await rc.start(stream_from(slot));
    seen all;
    co_await collect_until(rc, all, "done");
    co_await rc.stop();
    auto a = co_await open_applier(p, p.options(7));
    for (const auto& payload : all.payloads)
      co_await a.feed(payload);
    co_await a.flush();
    EXPECT_EQ(a.stats().txns, 2000u);
    EXPECT_EQ(p.target("SELECT v || ',' || n FROM k WHERE id = 1"), "v1000,1000");
    p.expect_same("k", "id");
  }());
  g_workers = 1;
}

TEST(cdc_apply_parallel, throughput_single_row_updates_one_vs_four_workers) {
  cdc_pair p("cdc_par_speed", "CREATE TABLE b (id int PRIMARY KEY, v text, n int)", "b");
  // Enough transactions for several commit groups; speed is measured by perf/bench_cdc.sh, not
  // here (the figure printed is for the log only).
  constexpr int rows = 6000;  // 3 commit groups of 2 000 per phase
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto rc = co_await pg::replication_connection::connect(ex, p.src.conninfo);
    auto slot = co_await rc.create_slot(p.src.name, temporary_slot());
    sql(p.src, "INSERT INTO b SELECT g, 'value ' || g, 0 FROM generate_series(1, " +
                   std::to_string(rows) + ") g");
    end_marker(p, "load");
    exec_sql(p.src.conninfo, "DO $$ BEGIN FOR i IN 1.." + std::to_string(rows) +
                                 " LOOP UPDATE b SET n = n + 1 WHERE id = i; COMMIT; "
                                 "END LOOP; END $$");
    end_marker(p, "distinct");
    exec_sql(p.src.conninfo, "DO $$ BEGIN FOR i IN 1.." + std::to_string(rows) +
                                 " LOOP UPDATE b SET n = n + 1, v = 'hot' WHERE id = 1 + i % 100; "
                                 "COMMIT; END LOOP; END $$");
    end_marker(p, "hot");
    co_await rc.start(stream_from(slot));
    seen load;
    seen distinct;
    seen hot;
    co_await collect_until(rc, load, "load");
    co_await collect_until(rc, distinct, "distinct");
    co_await collect_until(rc, hot, "hot");
    co_await rc.stop();
    for (std::size_t workers : {std::size_t{1}, std::size_t{4}}) {
      g_workers = workers;
      sql(p.dst, "TRUNCATE b");
      cdc::apply_options o = p.options();
      o.origin += "_run" + std::to_string(workers);
      auto a = co_await open_applier(p, o);
      for (const auto& payload : load.payloads)
        co_await a.feed(payload);
      co_await a.flush();
      for (seen* phase : {&distinct, &hot}) {
        const auto t0 = std::chrono::steady_clock::now();
        for (const auto& payload : phase->payloads)
          co_await a.feed(payload);
        co_await a.flush();
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf(
            "[ perf     ] cdc apply, %zu worker(s): %d single-row UPDATE transactions on "
            "%s keys in %.2f s = %.0f rows/s\n",
            workers, rows, phase == &distinct ? "distinct" : "100 hot", secs, rows / secs);
      }
      EXPECT_EQ(a.committed_lsn(), hot.ends.back());
      p.expect_same("b", "id");
    }
    g_workers = 1;
  }());
}

TEST(cdc_apply_parallel, a_unique_index_without_the_key_keeps_its_transactions_in_order) {
  // A frees email x0, B takes it. On different workers B could run first and collide with the
  // committed x0; the target's unique index on email makes the table ordered as a whole, so B
  // runs after A on A's worker. A row lock held by the test keeps A waiting long enough that a
  // B run elsewhere would have failed by then.
  cdc_pair p("cdc_par_unique",
             "CREATE TABLE u (id int PRIMARY KEY, email text UNIQUE); "
             "CREATE TABLE o (id int PRIMARY KEY)",
             "u, o");
  g_workers = 4;
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options(1));  // a worker per transaction if it could
    sql(p.src, "INSERT INTO u VALUES (1, 'x0')");
    seen s;
    co_await apply_and_flush(rc, a, s, 1);

    PGconn* locker = PQconnectdb(p.dst.conninfo.c_str());
    EXPECT_EQ(PQstatus(locker), CONNECTION_OK);
    PQclear(PQexec(locker, "BEGIN"));
    PQclear(PQexec(locker, "SELECT * FROM u WHERE id = 1 FOR UPDATE"));
    sql(p.src, "UPDATE u SET email = 'x1' WHERE id = 1");  // A
    sql(p.src, "INSERT INTO u VALUES (2, 'x0')");          // B
    sql(p.src, "INSERT INTO o VALUES (1)");  // C: B's worker, if B had one, sends B's group now
    co_await apply_units(rc, &a, s, 3, 60s);
    // A's worker waits for the lock (polled: a condition, with a bound).
    asio::steady_timer poll(ex);
    bool waiting = false;
    for (int i = 0; i < 3000 && !waiting; ++i) {
      poll.expires_after(std::chrono::milliseconds(10));
      co_await poll.async_wait(asio::use_awaitable);
      waiting =
          query_value(p.dst.conninfo,
                      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND wait_event_type = 'Lock'") != "0";
    }
    EXPECT_TRUE(waiting) << "the update never waited for the test's row lock";
    PQclear(PQexec(locker, "COMMIT"));
    PQfinish(locker);
    co_await a.flush();
    EXPECT_EQ(a.committed_lsn(), s.ends.back());
    p.expect_same("u", "id");
    co_await rc.stop();
  }());
}

namespace {

/// Polls `f` (every 20 ms, up to 10 s) while the applier's coroutines run; true once it holds.
asio::awaitable<bool> eventually(const std::function<bool()>& f) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 500; ++i) {
    if (f()) co_return true;
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(asio::use_awaitable);
  }
  co_return f();
}

}  // namespace

TEST(cdc_apply_parallel, a_streamed_transaction_is_applied_while_it_streams_exactly_once) {
  cdc_pair p("cdc_live",
             "CREATE TABLE k (id int PRIMARY KEY, v text); CREATE TABLE log (n int); "
             "ALTER TABLE log REPLICA IDENTITY FULL",
             "k, log");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "-c logical_decoding_work_mem=64kB");
    sql(p.src, "INSERT INTO k VALUES (0, 'before')");
    sql(p.src,
        "BEGIN; INSERT INTO k SELECT g, repeat('a', 100) FROM generate_series(1, 3000) g; "
        "INSERT INTO log SELECT g FROM generate_series(1, 500) g; ROLLBACK");
    // `log` has no key: applying this transaction twice would double its rows.
    sql(p.src,
        "BEGIN; INSERT INTO k SELECT g, repeat('b', 100) FROM generate_series(1, 3000) g; "
        "UPDATE k SET v = 'u' WHERE id % 3 = 0; "
        "INSERT INTO log SELECT g FROM generate_series(1, 500) g; "
        "DELETE FROM k WHERE id % 7 = 0; COMMIT");
    sql(p.src, "INSERT INTO k VALUES (-1, 'after')");
    end_marker(p, "live");
    seen all;
    co_await collect_until(rc, all, "live");
    co_await rc.stop();
    // The first stream block of each streamed transaction, the abort of the first.
    pgo::decoder dec{2};
    std::vector<std::size_t> first_stops;
    std::size_t abort_at = 0;
    bool first_block = false;
    for (std::size_t i = 0; i < all.payloads.size(); ++i) {
      auto r = dec.decode(all.payloads[i]);
      if (!r) {
        ADD_FAILURE() << r.error().to_string();
        co_return;
      }
      if (const auto* s = std::get_if<pgo::stream_start_message>(&*r))
        first_block = s->first_segment;
      if (std::holds_alternative<pgo::stream_stop_message>(*r) && first_block)
        first_stops.push_back(i);
      if (std::holds_alternative<pgo::stream_abort_message>(*r)) abort_at = i;
    }
    EXPECT_EQ(first_stops.size(), 2u) << "both large transactions should stream";
    EXPECT_EQ(all.top_aborts, 1);
    if (first_stops.size() != 2 || abort_at < first_stops[0] || abort_at > first_stops[1]) {
      ADD_FAILURE() << "the first streamed transaction should abort before the second streams";
      co_return;
    }

    // A lock on k held in the target database: a target transaction wrote to it.
    const auto locks = [&] {
      return p.target(
          "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
          "WHERE c.relname = 'k' AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid() "
          "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())");
    };
    cdc::apply_options o = p.options();
    o.workers = 2;
    std::size_t fed = 0;
    const auto feed_to = [&](cdc::applier& a, std::size_t last) -> asio::awaitable<void> {
      for (; fed <= last; ++fed)
        co_await a.feed(all.payloads[fed]);
    };
    {
      auto a = co_await open_applier(p, o);
      // Still open on the source, its first block is on the target already...
      co_await feed_to(a, first_stops[0]);
      EXPECT_TRUE(co_await eventually([&] { return locks() == "1"; }))
          << "the streamed transaction was not applied while it streamed";
      // ...and rolls back with it there.
      co_await feed_to(a, abort_at);
      EXPECT_TRUE(co_await eventually([&] { return locks() == "0"; }));
      co_await feed_to(a, first_stops[1]);
      EXPECT_TRUE(co_await eventually([&] { return locks() == "1"; }));
      // A crash in the middle of the second one: its target transaction rolls back.
    }
    EXPECT_TRUE(co_await eventually([&] { return locks() == "0"; }));
    {
      auto a = co_await open_applier(p, o);
      fed = 0;
      co_await feed_to(a, all.payloads.size() - 1);
      co_await a.flush();
      EXPECT_GE(a.stats().txns, 2u);
    }
    p.expect_same("k", "id");
    p.expect_same("log", "n");
    EXPECT_EQ(p.target("SELECT count(*) FROM log"), "500");
    // The whole stream again: everything was applied.
    {
      auto a = co_await open_applier(p, o);
      fed = 0;
      co_await feed_to(a, all.payloads.size() - 1);
      co_await a.flush();
      EXPECT_EQ(a.stats().txns, 0u);
    }
    EXPECT_EQ(p.target("SELECT count(*) FROM log"), "500");
    // Its spool went when it committed (lane 0 drops it in the background) or with the applier.
    EXPECT_TRUE(co_await eventually([&] { return std::filesystem::is_empty(p.spool); }))
        << "spool files left behind";
  }());
}
