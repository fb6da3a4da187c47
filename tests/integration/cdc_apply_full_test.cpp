// engine/cdc/apply on REPLICA IDENTITY FULL tables: set-based apply of the group's changes on
// tables without an index (cdc/apply_full.cpp), index lookups where one exists, change by change
// where set-based apply cannot be exact — each ends as on the source, and a long group costs time
// in proportion to its length, not its square.
#include "tests/integration/cdc_apply_support.hpp"

using namespace uringmig::test::cdc_apply;

namespace {

// f: no index (set-based); fi: an index on b (looked up change by change); fx: a column only the
// target has (change by change: a delete + insert would reset it).
constexpr const char* full_schema =
    "CREATE TABLE f (a int, b text, c numeric(10,2), doc text); "
    "ALTER TABLE f ALTER COLUMN doc SET STORAGE EXTERNAL; ALTER TABLE f REPLICA IDENTITY FULL; "
    "CREATE TABLE fi (a int, b text, c numeric(10,2), doc text); "
    "CREATE INDEX fi_b ON fi (b); ALTER TABLE fi REPLICA IDENTITY FULL; "
    "CREATE TABLE fx (a int, b text, c numeric(10,2), doc text); "
    "ALTER TABLE fx REPLICA IDENTITY FULL";

// Every kind of change a keyless table sees, in one transaction (one group) per table.
std::string full_changes(const std::string& t) {
  std::string s = "BEGIN; ";
  const auto add = [&](std::string q) {
    for (std::size_t at; (at = q.find("%t")) != std::string::npos;)
      q.replace(at, 2, t);
    s += q + "; ";
  };
  // One copy of a duplicated row changes; a row changes twice (a chain); a row comes and goes.
  add("UPDATE %t SET c = 9.5 WHERE ctid = (SELECT ctid FROM %t WHERE a = 1 LIMIT 1)");
  add("UPDATE %t SET b = 'chain 1' WHERE a = 2");
  add("UPDATE %t SET b = 'chain 2' WHERE a = 2");
  add("INSERT INTO %t VALUES (100, 'transient', 1, NULL)");
  add("DELETE FROM %t WHERE a = 100");
  // NULLs and empty strings, quotes, braces and backslashes; two copies removed of three.
  add("UPDATE %t SET b = NULL WHERE a = 3");
  add("UPDATE %t SET b = '' WHERE a = 4");
  add("UPDATE %t SET b = 'q\"uo{te},\\\\ back' WHERE a = 5");
  add("DELETE FROM %t WHERE ctid IN (SELECT ctid FROM %t WHERE a = 6 LIMIT 2)");
  // The big value stays out of line and is not sent again (unchanged TOAST).
  add("UPDATE %t SET c = c + 1 WHERE a = 7");
  add("INSERT INTO %t SELECT 8, 'dup', 8, NULL FROM generate_series(1, 3)");
  add("UPDATE %t SET a = 80 WHERE ctid = (SELECT ctid FROM %t WHERE a = 8 LIMIT 1)");
  add("UPDATE %t SET c = c * 2 WHERE a >= 10");
  return s + "COMMIT";
}

}  // namespace

TEST_P(cdc_apply_w, replica_identity_full_group_ends_as_on_the_source) {
  cdc_pair p("cdc_fullset", full_schema, "f, fi, fx");
  sql(p.dst, "ALTER TABLE fx ADD COLUMN extra int DEFAULT 7");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    for (const char* t : {"f", "fi", "fx"}) {
      sql(p.src, std::string("INSERT INTO ") + t +
                     " SELECT g % 20, 'v' || (g % 20), g % 20, CASE WHEN g % 20 = 7 THEN "
                     "(SELECT string_agg(md5(x::text), '') FROM generate_series(1, 100) x) END "
                     "FROM generate_series(1, 200) g");
    }
    seen s;
    co_await apply_and_flush(rc, a, s, 3);
    sql(p.dst, "UPDATE fx SET extra = a");
    for (const char* t : {"f", "fi", "fx"})
      sql(p.src, full_changes(t));
    co_await apply_and_flush(rc, a, s, 3);
    EXPECT_GE(s.unchanged_toast, 10) << "the updates did not carry unchanged TOAST values";
    for (const char* t : {"f", "fi", "fx"}) {
      const std::string row = "format('%s|%s|%s|%s', a, b, c, md5(doc))";
      p.expect_same(t, row, row);
      EXPECT_EQ(query_value(p.dst.conninfo, std::string("SELECT count(*) FROM ") + t),
                query_value(p.src.conninfo, std::string("SELECT count(*) FROM ") + t));
    }
    // Kept by the rows an UPDATE changed (a set-based delete + insert would have reset it).
    EXPECT_EQ(p.target("SELECT count(*) FROM fx WHERE extra IS DISTINCT FROM a AND a <> 80 "
                       "AND b IS DISTINCT FROM 'dup'"),
              "0");
    co_await rc.stop();
  }());
}

TEST(cdc_apply_full, a_group_of_20000_keyless_changes_takes_linear_time) {
  // 20 000 rows, 20 per value of g; one source transaction of 1000 statements updating 20 rows
  // each: one group. Change by change, each UPDATE scans the table and every row version the
  // group wrote before it (measured: minutes); set-based, one scan.
  cdc_pair p("cdc_fullspeed",
             "CREATE TABLE kl (g int, n int, pad text); ALTER TABLE kl REPLICA IDENTITY FULL",
             "kl");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto rc = co_await pg::replication_connection::connect(ex, p.src.conninfo);
    auto slot = co_await rc.create_slot(p.src.name, temporary_slot());
    cdc::apply_options o = p.options(2000);
    o.max_group_changes = 100000;
    auto a = co_await open_applier(p, o);
    sql(p.src,
        "INSERT INTO kl SELECT g % 1000, 0, repeat('p', 40) FROM generate_series(1, 20000) g");
    sql(p.src,
        "DO $$ BEGIN FOR i IN 0..999 LOOP UPDATE kl SET n = n + 1 WHERE g = i; END LOOP; "
        "END $$");
    co_await rc.start(stream_from(slot));
    seen s;
    co_await apply_and_flush(rc, a, s, 1);  // the inserts
    const auto t0 = std::chrono::steady_clock::now();
    co_await apply_and_flush(rc, a, s, 1);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[ perf     ] cdc apply: one group of 20000 keyless updates in %.2f s\n", secs);
    EXPECT_EQ(a.stats().changes, 40000u);
    p.expect_same("kl", "g, n", "format('%s|%s', g, n)");
    EXPECT_EQ(p.target("SELECT sum(n) FROM kl"), "20000");
    // Measured on the loaded 2-core machine: 2.4 s set-based; change by change (one UPDATE
    // ... WHERE ctid = (SELECT ctid ... LIMIT 1) each) 24.8 s, and with JIT on (what the
    // disabled sequential scan's cost turned on before apply sessions set jit = off) 230 ms per
    // statement: over an hour.
    EXPECT_LT(secs, 12.0) << "a long group on a keyless table is not applied in linear time";
    co_await rc.stop();
  }());
}
