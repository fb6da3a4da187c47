// engine/cdc/apply against the fixture's PostgreSQL 15: a source database with a publication and
// a slot, a target database with the same tables; changes made on the source are streamed
// through the applier and both sides' table contents must match exactly.
#include "engine/cdc/apply_sql.hpp"
#include "tests/integration/cdc_apply_support.hpp"

using namespace uringmig::test::cdc_apply;

INSTANTIATE_TEST_SUITE_P(workers, cdc_apply_w,
                         ::testing::Values(std::make_tuple(std::size_t{1}, true),
                                           std::make_tuple(std::size_t{4}, true),
                                           std::make_tuple(std::size_t{1}, false)));

TEST(cdc_apply_catalog, every_table_in_one_answer_and_independence_judged_from_it) {
  auto db = fresh_database("cdc_catalog");
  sql(db,
      "CREATE TABLE plain (id int PRIMARY KEY, v text); "
      "CREATE TABLE uniq (id int PRIMARY KEY, e text UNIQUE); "
      "CREATE TABLE wide (id int PRIMARY KEY, x int, UNIQUE (x, id)); "
      "CREATE TABLE expr (id int PRIMARY KEY, n text); CREATE UNIQUE INDEX ON expr (lower(n)); "
      "CREATE TABLE excl (id int PRIMARY KEY, r int4range, EXCLUDE USING gist (r WITH &&)); "
      "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; "
      "CREATE TABLE trig (id int PRIMARY KEY); "
      "CREATE TRIGGER t BEFORE INSERT ON trig FOR EACH ROW EXECUTE FUNCTION f(); "
      "ALTER TABLE trig ENABLE ALWAYS TRIGGER t; "
      "CREATE TABLE quiet (id int PRIMARY KEY); "  // its trigger does not fire in replica mode
      "CREATE TRIGGER t BEFORE INSERT ON quiet FOR EACH ROW EXECUTE FUNCTION f(); "
      "CREATE TABLE ruled (id int PRIMARY KEY); "
      "CREATE RULE r AS ON INSERT TO ruled DO ALSO NOTIFY x; "
      "CREATE TABLE parted (id int PRIMARY KEY, e int) PARTITION BY RANGE (id); "
      "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100); "
      "CREATE UNIQUE INDEX ON parted_1 (e, id); CREATE UNIQUE INDEX ON parted_1 (e); "
      "CREATE TABLE keyless (a int, b text); "
      "CREATE TABLE looked (a int, b text); CREATE INDEX ON looked (a); "
      "CREATE TABLE gen (id int PRIMARY KEY, g int GENERATED ALWAYS AS (id * 2) STORED)");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await pg::connection::connect(ex, db.socket_url);
    const auto all = co_await cdc::detail::fetch_target_tables(c);
    const auto at = [&](const std::string& t) -> const cdc::detail::target_table& {
      static const cdc::detail::target_table none;
      const auto it = all.find("\"public\".\"" + t + "\"");
      EXPECT_NE(it, all.end()) << t;
      return it == all.end() ? none : it->second;
    };
    const std::vector<std::string> id{"id"};
    EXPECT_TRUE(at("plain").independent(id));
    EXPECT_FALSE(at("plain").independent({}));
    EXPECT_FALSE(at("uniq").independent(id));
    EXPECT_TRUE(at("wide").independent(id));
    EXPECT_FALSE(at("expr").independent(id));
    EXPECT_FALSE(at("excl").independent(id));
    EXPECT_FALSE(at("trig").independent(id));
    EXPECT_TRUE(at("quiet").independent(id));
    EXPECT_FALSE(at("ruled").independent(id));
    EXPECT_FALSE(at("parted").independent(id));  // a partition's unique index without the key
    EXPECT_FALSE(at("keyless").lookup_index);
    EXPECT_TRUE(at("looked").lookup_index);
    const auto& gen = at("gen").columns;
    EXPECT_TRUE(gen.size() == 2 && !gen[0].generated && gen[1].generated &&
                gen[1].cast == "integer");
    // One table by name: the same answer; none for a table the target lacks.
    const auto one = co_await cdc::detail::ask_target_table(c, "\"public\".\"uniq\"");
    EXPECT_TRUE(one && one->unique_sets == at("uniq").unique_sets && one->columns.size() == 2);
    EXPECT_FALSE(co_await cdc::detail::ask_target_table(c, "\"public\".\"nothere\""));
    co_await c.close();
  }());
}

TEST_P(cdc_apply_w, inserts_updates_deletes_key_changes_truncate_rollback_generated) {
  cdc_pair p("cdc_dml",
             "CREATE TABLE k (id int PRIMARY KEY, v text, n int); "
             "CREATE TABLE tr (id serial PRIMARY KEY, v text); "
             "CREATE TABLE gen (id int PRIMARY KEY, a int, g int)",
             "k, tr, gen");
  // The target computes g itself: it must never be written.
  sql(p.dst,
      "ALTER TABLE gen DROP COLUMN g; "
      "ALTER TABLE gen ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    EXPECT_EQ(a.origin_lsn(), 0u);
    sql(p.src, "INSERT INTO k SELECT g, 'v' || g, g FROM generate_series(1, 300) g");  // coalesced
    sql(p.src, "INSERT INTO k VALUES (1000, NULL, NULL)");
    sql(p.src, "UPDATE k SET v = 'updated', n = NULL WHERE id % 3 = 0");
    sql(p.src, "DELETE FROM k WHERE id % 5 = 0");
    sql(p.src, "UPDATE k SET id = id + 10000 WHERE id <= 4");  // key change
    sql(p.src,
        "BEGIN; INSERT INTO k VALUES (5000, 'rolled back'); DELETE FROM k WHERE id = 7; "
        "ROLLBACK");
    sql(p.src, "INSERT INTO tr (v) SELECT 'x' || g FROM generate_series(1, 10) g");
    sql(p.src,
        "BEGIN; INSERT INTO k VALUES (2000, 'mixed'); TRUNCATE tr RESTART IDENTITY; "
        "INSERT INTO tr (v) VALUES ('after truncate'); COMMIT");
    sql(p.src,
        "INSERT INTO gen SELECT g, g, g * 2 FROM generate_series(1, 20) g; "
        "UPDATE gen SET a = a + 1, g = (a + 1) * 2 WHERE id < 5");
    seen s;
    co_await apply_and_flush(rc, a, s, 8);  // each sql() is one transaction
    p.expect_same("k", "id");
    p.expect_same("tr", "id");
    p.expect_same("gen", "id", "format('%s|%s|%s', id, a, g)");
    EXPECT_EQ(p.target("SELECT count(*) FROM k WHERE id IN (5000)"), "0");
    EXPECT_EQ(p.target("SELECT count(*) FROM k WHERE id = 7"), "1");
    EXPECT_EQ(p.target("SELECT id FROM tr"), "1");  // RESTART IDENTITY
    EXPECT_EQ(a.stats().txns, 8u);
    EXPECT_EQ(a.stats().skipped_txns, 0u);
    EXPECT_GE(a.stats().changes, 300u);
    // The last applied commit's source time: recent (the lag in seconds is measured from it).
    const auto applied_at = uringmig::codecs::pgoutput::from_pg_time(a.stats().committed_time);
    EXPECT_LT(std::chrono::system_clock::now() - applied_at, std::chrono::minutes(5));
    EXPECT_GE(std::chrono::system_clock::now() - applied_at, std::chrono::seconds(0));
    const std::string origin = p.options().origin + (g_workers > 1 ? "_%" : "");
    EXPECT_EQ(p.target("SELECT max(pg_replication_origin_progress(roname, true)) FROM "
                       "pg_replication_origin WHERE roname LIKE '" +
                       origin + "'"),
              pgo::format_lsn(a.committed_lsn()));
    co_await rc.stop();
  }());
}

TEST_P(cdc_apply_w, replica_identity_full_changes_exactly_one_matching_row) {
  cdc_pair p("cdc_full", "CREATE TABLE f (a int, b text); ALTER TABLE f REPLICA IDENTITY FULL",
             "f");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    sql(p.src,
        "INSERT INTO f VALUES (1, 'x'), (1, 'x'), (2, 'y'), (3, 'z'), (3, 'z'), "
        "(4, NULL), (4, NULL)");
    sql(p.src, "DELETE FROM f WHERE ctid = (SELECT ctid FROM f WHERE a = 1 LIMIT 1)");
    sql(p.src, "UPDATE f SET b = 'w' WHERE ctid = (SELECT ctid FROM f WHERE a = 3 LIMIT 1)");
    sql(p.src, "DELETE FROM f WHERE ctid = (SELECT ctid FROM f WHERE a = 4 LIMIT 1)");
    sql(p.src, "UPDATE f SET a = 20 WHERE a = 2");
    seen s;
    co_await apply_and_flush(rc, a, s, 5);
    p.expect_same("f", "a, b");
    EXPECT_EQ(p.target("SELECT count(*) FROM f"), "5");
    co_await rc.stop();
  }());
}

TEST_P(cdc_apply_w, unchanged_toast_value_keeps_the_target_value) {
  cdc_pair p("cdc_toast",
             "CREATE TABLE big (id int PRIMARY KEY, doc text, small int); "
             "ALTER TABLE big ALTER COLUMN doc SET STORAGE EXTERNAL",
             "big");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    sql(p.src,
        "INSERT INTO big SELECT g, (SELECT string_agg(md5(x::text || g), '') "
        "FROM generate_series(1, 200) x), 0 FROM generate_series(1, 3) g");
    sql(p.src, "UPDATE big SET small = small + 1");  // doc unchanged: sent as 'u'
    sql(p.src, "UPDATE big SET doc = doc || 'changed', small = 7 WHERE id = 2");
    seen s;
    co_await apply_and_flush(rc, a, s, 3);
    EXPECT_GE(s.unchanged_toast, 3) << "the update did not carry unchanged TOAST values";
    p.expect_same("big", "id", "format('%s|%s|%s|%s', id, md5(doc), length(doc), small)");
    co_await rc.stop();
  }());
}

TEST_P(cdc_apply_w, streamed_transaction_with_rolled_back_subtransaction) {
  cdc_pair p("cdc_stream", "CREATE TABLE k (id int PRIMARY KEY, v text)", "k");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "-c logical_decoding_work_mem=64kB");
    auto a = co_await open_applier(p, p.options(500));
    sql(p.src, "INSERT INTO k VALUES (0, 'before')");
    sql(p.src,
        "BEGIN; INSERT INTO k SELECT g, repeat('a', 100) FROM generate_series(1, 3000) g; "
        "SAVEPOINT s; INSERT INTO k SELECT g, repeat('b', 100) FROM generate_series(5001, 8000) g; "
        "UPDATE k SET v = 'in rolled back savepoint' WHERE id < 100; ROLLBACK TO s; "
        "UPDATE k SET v = 'kept' WHERE id % 10 = 0; DELETE FROM k WHERE id % 7 = 0; "
        "SAVEPOINT t; INSERT INTO k VALUES (9000, 'kept subxact'); RELEASE t; COMMIT");
    sql(p.src,
        "BEGIN; INSERT INTO k SELECT g, repeat('c', 100) FROM generate_series(10001, 14000) g; "
        "ROLLBACK");
    sql(p.src, "INSERT INTO k VALUES (-1, 'after')");
    seen s;
    co_await apply_and_flush(rc, a, s, 4);
    EXPECT_GE(s.stream_starts, 2) << "the large transaction was not streamed";
    EXPECT_GE(s.subxact_aborts, 1) << "no Stream Abort for the rolled-back subtransaction";
    EXPECT_EQ(s.top_aborts, 1) << "the rolled-back transaction was not streamed";
    p.expect_same("k", "id");
    EXPECT_EQ(p.target("SELECT count(*) FROM k WHERE id > 5000 AND id < 9000"), "0");
    EXPECT_EQ(a.stats().txns, 3u);
    EXPECT_TRUE(std::filesystem::is_empty(p.spool)) << "spool files left behind";
    co_await rc.stop();
  }());
}

TEST_P(cdc_apply_w, transactions_with_our_origin_are_skipped) {
  cdc_pair p("cdc_origin", "CREATE TABLE k (id int PRIMARY KEY, v text)", "k");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    sql(p.src, "INSERT INTO k VALUES (1, 'one')");
    // Written by a (simulated) reverse applier: carries the origin uringmig_x.
    exec_sql(p.src.conninfo,
             "SET synchronous_commit = on; SELECT pg_replication_origin_create('uringmig_x') "
             "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = 'uringmig_x'); "
             "SELECT pg_replication_origin_session_setup('uringmig_x'); "
             "INSERT INTO k VALUES (2, 'looped')");
    sql(p.src, "INSERT INTO k VALUES (3, 'three')");
    seen s;
    co_await apply_and_flush(rc, a, s, 3);
    EXPECT_EQ(p.target("SELECT string_agg(id::text, ',' ORDER BY id) FROM k"), "1,3");
    EXPECT_EQ(a.stats().skipped_txns, 1u);
    EXPECT_EQ(a.stats().txns, 2u);
    co_await rc.stop();
  }());
}

TEST_P(cdc_apply_w, new_column_on_the_source_is_taken_or_stops_with_a_clear_error) {
  cdc_pair p("cdc_newcol",
             "CREATE TABLE ok (id int PRIMARY KEY, v text); "
             "CREATE TABLE bad (id int PRIMARY KEY, v text); "
             "CREATE TABLE late (id int PRIMARY KEY, v text)",
             "ok, bad, late");
  sql(p.dst, "DROP TABLE late");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    // Created on the target after the applier asked about every table: asked about when named.
    sql(p.dst, "CREATE TABLE late (id int PRIMARY KEY, v text)");
    sql(p.src,
        "INSERT INTO ok VALUES (1, 'a'); INSERT INTO bad VALUES (1, 'a'); "
        "INSERT INTO late VALUES (1, 'x'), (2, 'y')");
    seen s;
    co_await apply_and_flush(rc, a, s, 1);
    p.expect_same("late", "id");
    // Added on both sides: re-prepared.
    sql(p.dst, "ALTER TABLE ok ADD COLUMN extra int");
    sql(p.src,
        "ALTER TABLE ok ADD COLUMN extra int; INSERT INTO ok VALUES (2, 'b', 42); "
        "UPDATE ok SET extra = 7 WHERE id = 1");
    co_await apply_and_flush(rc, a, s, 1);
    p.expect_same("ok", "id");
    // Added on the source only: stop, naming the table and the column.
    sql(p.src, "ALTER TABLE bad ADD COLUMN missing_col int; INSERT INTO bad VALUES (2, 'b', 5)");
    std::string error;
    try {
      co_await apply_units(rc, &a, s, 1, 60s);
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("\"missing_col\""), std::string::npos) << error;
    EXPECT_NE(error.find("\"public\".\"bad\""), std::string::npos) << error;
    EXPECT_EQ(p.target("SELECT count(*) FROM bad"), "1");
    co_await rc.stop();
  }());
}

TEST_P(cdc_apply_w, crash_resumes_from_the_origin_without_loss_or_double_apply) {
  cdc_pair p("cdc_crash",
             "CREATE TABLE k (id int PRIMARY KEY, v text); CREATE TABLE log (txn int, note text)",
             "k, log");
  slot_cleanup cleanup{p.src.conninfo, p.src.name};
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    constexpr int txns = 40;
    pg::replication_slot slot;
    seen all;
    all.keep = true;
    {
      auto rc = co_await pg::replication_connection::connect(ex, p.src.conninfo);
      pg::slot_options so;
      so.export_snapshot = false;
      slot = co_await rc.create_slot(p.src.name, so);
      co_await rc.start(stream_from(slot));
      for (int i = 1; i <= txns; ++i) {
        // `log` has no key: applying a transaction twice would duplicate its row.
        sql(p.src, "BEGIN; INSERT INTO k VALUES (" + std::to_string(i) + ", 'x'); " +
                       "UPDATE k SET v = v || 'y' WHERE id = " + std::to_string(i / 2 + 1) +
                       "; INSERT INTO log VALUES (" + std::to_string(i) + ", 'n'); COMMIT");
      }
      co_await apply_units(rc, nullptr, all, txns, 60s);
      co_await rc.stop();
    }
    EXPECT_EQ(all.ends.size(), static_cast<std::size_t>(txns));
    if (all.ends.size() != static_cast<std::size_t>(txns)) co_return;

    // First run: groups of ~5 statements commit while feeding; cut in the middle of a
    // transaction and drop the applier without flush (its open target transaction rolls back).
    pgo::lsn committed = 0;
    {
      auto a = co_await open_applier(p, p.options(5));
      const std::size_t cut = all.payloads.size() * 2 / 3 + 1;
      asio::steady_timer pause(ex);
      for (std::size_t i = 0; i < cut; ++i) {
        co_await a.feed(all.payloads[i]);
        if (g_workers > 1 && i % 20 == 19) {
          // Let the workers run: some commit, others are mid-transaction at the cut.
          pause.expires_after(std::chrono::milliseconds(2));
          co_await pause.async_wait(asio::use_awaitable);
        }
      }
      committed = a.committed_lsn();
      EXPECT_FALSE(a.idle());
      EXPECT_GT(a.stats().groups, 2u);
    }
    EXPECT_GT(committed, all.ends.front());
    EXPECT_LT(committed, all.ends.back());

    // Reopen: the origin says where to resume; re-stream from there. With several workers, a
    // COMMIT already sent when the applier was dropped may still have landed.
    {
      auto a = co_await open_applier(p, p.options(5));
      if (g_workers == 1) {
        EXPECT_EQ(a.origin_lsn(), committed);
      }
      EXPECT_GE(a.origin_lsn(), committed);
      EXPECT_NE(std::find(all.ends.begin(), all.ends.end(), a.origin_lsn()), all.ends.end());
      committed = a.origin_lsn();
      auto rc = co_await pg::replication_connection::connect(ex, p.src.conninfo);
      pg::stream_options so = stream_from(slot);
      so.start = a.origin_lsn();
      co_await rc.start(std::move(so));
      int remaining = 0;
      for (auto e : all.ends)
        remaining += e > committed ? 1 : 0;
      seen s;
      co_await apply_and_flush(rc, a, s, remaining);
      EXPECT_EQ(a.committed_lsn(), all.ends.back());
      co_await rc.stop();
    }
    p.expect_same("k", "id");
    p.expect_same("log", "txn, note");
    EXPECT_EQ(p.target("SELECT count(*) FROM log"), std::to_string(txns));

    // The whole stream again from the start: everything is skipped as already applied.
    {
      auto a = co_await open_applier(p, p.options(5));
      EXPECT_EQ(a.origin_lsn(), all.ends.back());
      for (const auto& payload : all.payloads)
        co_await a.feed(payload);
      co_await a.flush();
      EXPECT_EQ(a.stats().txns, 0u);
      EXPECT_EQ(a.stats().groups, 0u);
    }
    p.expect_same("log", "txn, note");
  }());
}

TEST_P(cdc_apply_w, sentinel_message_is_reported_after_the_preceding_transactions) {
  cdc_pair p("cdc_sentinel", "CREATE TABLE k (id int PRIMARY KEY, v text)", "k");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    sql(p.src, "INSERT INTO k VALUES (1, 'one')");
    sql(p.src, "SELECT pg_logical_emit_message(false, 'other', 'ignored')");
    sql(p.src, "SELECT pg_logical_emit_message(false, 'uringmig.switchover', 'tok')");
    sql(p.src, "INSERT INTO k VALUES (2, 'two')");
    seen s;
    co_await apply_units(rc, &a, s, 2, 60s);
    EXPECT_FALSE(a.take_sentinel());
    co_await apply_units(rc, &a, s, 1, 60s);
    auto sentinel = a.take_sentinel();
    EXPECT_TRUE(sentinel);
    if (!sentinel) co_return;
    EXPECT_EQ(sentinel->first, "tok");
    EXPECT_GT(sentinel->second, s.ends.at(0));
    EXPECT_FALSE(a.take_sentinel());
    co_await a.flush();
    EXPECT_EQ(a.committed_lsn(), s.ends.at(0));
    EXPECT_EQ(p.target("SELECT string_agg(id::text, ',') FROM k"), "1");
    co_await apply_and_flush(rc, a, s, 1);
    p.expect_same("k", "id");
    co_await rc.stop();
  }());
}

TEST(cdc_apply, throughput_single_row_insert_and_update_transactions) {
  cdc_pair p("cdc_speed", "CREATE TABLE b (id int PRIMARY KEY, v text, n int)", "b");
  // Enough transactions for several commit groups; speed is measured by perf/bench_cdc.sh, not
  // here (the figure printed is for the log only).
  constexpr int rows = 6000;  // 3 commit groups of 2 000 per phase
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto rc = co_await pg::replication_connection::connect(ex, p.src.conninfo);
    auto slot = co_await rc.create_slot(p.src.name, temporary_slot());
    auto a = co_await open_applier(p, p.options());
    // Workloads first, so the timing is the stream and the apply, not the source.
    exec_sql(p.src.conninfo, "DO $$ BEGIN FOR i IN 1.." + std::to_string(rows) +
                                 " LOOP INSERT INTO b VALUES (i, 'value ' || i, 0); COMMIT; "
                                 "END LOOP; END $$");
    exec_sql(p.src.conninfo, "DO $$ BEGIN FOR i IN 1.." + std::to_string(rows) +
                                 " LOOP UPDATE b SET n = n + 1, v = 'upd' WHERE id = i; COMMIT; "
                                 "END LOOP; END $$");
    sql(p.src, "SELECT 1");  // flushes the WAL
    co_await rc.start(stream_from(slot));
    seen s;
    for (const char* what : {"INSERT", "UPDATE"}) {
      const auto t0 = std::chrono::steady_clock::now();
      co_await apply_and_flush(rc, a, s, rows);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("[ perf     ] cdc apply: %d single-row %s transactions in %.2f s = %.0f rows/s\n",
                  rows, what, secs, rows / secs);
    }
    p.expect_same("b", "id");
    EXPECT_EQ(a.stats().txns, 2u * rows);
    co_await rc.stop();
  }());
}

TEST(cdc_apply, spool_files_a_crashed_run_left_are_removed_at_open) {
  cdc_pair p("cdc_stale_spool", "CREATE TABLE k (id int PRIMARY KEY)", "k");
  const std::string origin = p.options().origin;
  std::filesystem::create_directories(p.spool);
  const auto touch = [&](const std::string& name) {
    std::ofstream(p.spool / name) << "stale";
    return p.spool / name;
  };
  const auto stale = touch(origin + "_4711.spool");
  const auto other_origin = touch("uringmig_other_4711.spool");
  const auto worker_of_mine = touch(origin + "_1_4711.spool");  // worker 1's: swept by worker 1
  const auto not_a_spool = touch(origin + "_notes.txt");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto a = co_await open_applier(p, p.options());
    EXPECT_FALSE(std::filesystem::exists(stale));
    EXPECT_TRUE(std::filesystem::exists(other_origin));
    EXPECT_TRUE(std::filesystem::exists(worker_of_mine));
    EXPECT_TRUE(std::filesystem::exists(not_a_spool));
  }());
  std::filesystem::remove_all(p.spool);
}
