// `uringmig verify` (engine::run_verify) against real PostgreSQL databases.
#include "engine/verify/verify.hpp"
#include "engine/core/job.hpp"
#include "tests/support/shared_cluster.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace engine = uringmig::engine;
using uringmig::test::exec_sql;
using uringmig::test::fresh_database;
using uringmig::test::fresh_database_info;
using uringmig::test::query_value;

namespace {

engine::job_options verify_options(const fresh_database_info& src, const fresh_database_info& dst) {
  engine::job_options o;
  o.command = "verify";
  o.source_url = src.socket_url;  // one side over the socket, the other over TCP with a password
  o.target_url = dst.tcp_url;
  o.jobs = 2;
  return o;
}

/// Both databases get the same statements.
void on_both(const fresh_database_info& a, const fresh_database_info& b, const std::string& sql) {
  exec_sql(a.conninfo, sql);
  exec_sql(b.conninfo, sql);
}

struct outcome {
  int rc = -1;
  std::string error;   // job_error's message, empty when none was thrown
  std::string output;  // what run_verify printed
};

outcome verify(const engine::job_options& o) {
  outcome out;
  testing::internal::CaptureStdout();
  try {
    out.rc = engine::verify::run_verify(o);
  } catch (const engine::job_error& e) {
    out.error = e.what();
  } catch (...) {
    out.output = testing::internal::GetCapturedStdout();
    throw;
  }
  out.output = testing::internal::GetCapturedStdout();
  std::fputs(out.output.c_str(), stdout);
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Several tables, one of them 10 000 rows, keyed and keyless.
constexpr const char* three_tables =
    "create table accounts(id int primary key, owner text, balance numeric(12, 2));"
    "insert into accounts select g, 'owner ' || g, g * 1.25 from generate_series(1, 10000) g;"
    "create table events(at timestamptz, kind text, payload jsonb);"
    "insert into events select '2024-01-01'::timestamptz + g * interval '1 minute', "
    "  'k' || (g % 7), jsonb_build_object('g', g) from generate_series(1, 500) g;"
    "create schema sales;"
    "create table sales.orders(id bigint primary key, account int, total numeric);"
    "insert into sales.orders select g, g % 100, g / 3.0 from generate_series(1, 1000) g;";

}  // namespace

TEST(verify, identical_tables_exit_zero) {
  auto src = fresh_database("verify_same_src");
  auto dst = fresh_database("verify_same_dst");
  on_both(src, dst, three_tables);
  auto r = verify(verify_options(src, dst));
  EXPECT_EQ(r.rc, 0) << r.error;
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(contains(r.output, "public.accounts")) << r.output;
  EXPECT_TRUE(contains(r.output, "sales.orders")) << r.output;
  EXPECT_TRUE(contains(r.output, "3 identical, 0 differ")) << r.output;
}

TEST(verify, changed_value_in_one_row_names_that_table) {
  auto src = fresh_database("verify_changed_src");
  auto dst = fresh_database("verify_changed_dst");
  on_both(src, dst, three_tables);
  exec_sql(dst.conninfo, "update sales.orders set total = total + 0.01 where id = 500");
  auto r = verify(verify_options(src, dst));
  EXPECT_EQ(r.error, "1 table(s) differ: sales.orders");
  EXPECT_TRUE(contains(r.output, "DIFFERS: checksum")) << r.output;
  EXPECT_TRUE(contains(r.output, "2 identical, 1 differ")) << r.output;
}

TEST(verify, a_null_instead_of_a_value_differs) {
  auto src = fresh_database("verify_null_src");
  auto dst = fresh_database("verify_null_dst");
  on_both(src, dst, "create table t(a text, b text); insert into t values ('', 'x'), (null, 'y')");
  exec_sql(dst.conninfo, "update t set a = null where b = 'x'");
  auto r = verify(verify_options(src, dst));
  EXPECT_EQ(r.error, "1 table(s) differ: public.t");
}

TEST(verify, missing_row_differs_in_rows) {
  auto src = fresh_database("verify_missing_row_src");
  auto dst = fresh_database("verify_missing_row_dst");
  on_both(src, dst, three_tables);
  exec_sql(dst.conninfo, "delete from events where kind = 'k3' and payload->>'g' = '3'");
  auto r = verify(verify_options(src, dst));
  EXPECT_EQ(r.error, "1 table(s) differ: public.events");
  EXPECT_TRUE(contains(r.output, "DIFFERS: rows 500 vs 499")) << r.output;
}

TEST(verify, extra_duplicate_in_keyless_table_with_same_count_differs) {
  auto src = fresh_database("verify_dup_src");
  auto dst = fresh_database("verify_dup_dst");
  on_both(src, dst,
          "create table bag(v text, n int);"
          "insert into bag values ('a', 1), ('b', 2), ('c', 3), ('a', 1)");
  // Same count on both sides: one row lost, another duplicated.
  exec_sql(dst.conninfo, "delete from bag where v = 'c'; insert into bag values ('b', 2);");
  ASSERT_EQ(query_value(dst.conninfo, "select count(*) from bag"), "4");
  auto r = verify(verify_options(src, dst));
  EXPECT_EQ(r.error, "1 table(s) differ: public.bag");
  EXPECT_TRUE(contains(r.output, "DIFFERS: checksum")) << r.output;

  // Two rows swapped between duplicates of the same multiset are not a difference.
  auto dst2 = fresh_database("verify_dup_dst2");
  exec_sql(dst2.conninfo,
           "create table bag(v text, n int);"
           "insert into bag values ('a', 1), ('c', 3), ('a', 1), ('b', 2)");
  EXPECT_EQ(verify(verify_options(src, dst2)).rc, 0);
}

TEST(verify, table_missing_on_target_differs) {
  auto src = fresh_database("verify_gone_src");
  auto dst = fresh_database("verify_gone_dst");
  on_both(src, dst, three_tables);
  exec_sql(dst.conninfo, "drop table events");
  exec_sql(dst.conninfo, "drop schema sales cascade");
  auto r = verify(verify_options(src, dst));
  EXPECT_TRUE(contains(r.error, "2 table(s) differ: ")) << r.error;
  EXPECT_TRUE(contains(r.error, "public.events")) << r.error;
  EXPECT_TRUE(contains(r.error, "sales.orders")) << r.error;
  EXPECT_TRUE(contains(r.output, "MISSING on target")) << r.output;
  EXPECT_TRUE(contains(r.output, "1 identical, 2 differ")) << r.output;
}

TEST(verify, tables_and_exclude_limit_the_check) {
  auto src = fresh_database("verify_filter_src");
  auto dst = fresh_database("verify_filter_dst");
  on_both(src, dst, three_tables);
  exec_sql(dst.conninfo, "update accounts set owner = 'someone else' where id = 7");

  auto o = verify_options(src, dst);
  o.tables = {"sales.*", "public.events"};
  auto r = verify(o);
  EXPECT_EQ(r.rc, 0) << r.error;
  EXPECT_FALSE(contains(r.output, "public.accounts")) << r.output;
  EXPECT_TRUE(contains(r.output, "2 identical")) << r.output;

  o.tables.clear();
  o.exclude = {"public.acc*"};
  EXPECT_EQ(verify(o).rc, 0);

  o.exclude.clear();
  o.tables = {"public.*"};
  EXPECT_EQ(verify(o).error, "1 table(s) differ: public.accounts");

  o.tables = {"nope.*"};
  EXPECT_THROW(engine::verify::run_verify(o), engine::usage_error);
}

TEST(verify, mixed_types_and_table_shapes_identical) {
  auto src = fresh_database("verify_mixed_src");
  auto dst = fresh_database("verify_mixed_dst");
  const std::string rows =
      "insert into mixed(id, n, f, txt, b, arr, tarr, j, ts, iv, flag, d) values "
      "(1, 1.50, 0.1, E'tab\\there\\nnew line \"quoted\" back\\\\slash', '\\x00ff', "
      "  '{1,2,NULL}', '{\"a b\",\"c,d\",NULL,\"\"}', '{\"k\": [1, 2.50, null]}', "
      "  '2024-01-01 12:00:00.123456+02', '1 day 02:03:04', true, '2024-02-29'),"
      "(2, 'NaN', '-Infinity', '', '\\x', '{}', '{}', 'null', 'infinity', '-1 mon', false, "
      "  '-infinity'),"
      "(3, null, null, null, null, null, null, null, null, null, null, null);"
      "insert into mixed(id, n, f, txt, b, arr, tarr, j, ts, iv, flag, d) "
      "select g, g / 7.0, g / 3.0, repeat('x', g % 50) || E'\\t' || g, "
      "  decode(md5(g::text), 'hex'), array[g, -g], array['v' || g], "
      "  jsonb_build_object('g', g, 'h', array[g]), "
      "  '2000-01-01'::timestamptz + g * interval '1 hour 1 second', g * interval '1 minute', "
      "  g % 2 = 0, '2000-01-01'::date + g from generate_series(4, 3000) g;";
  // The source has a dropped column; the target has the columns in another
  // order (as a schema tool may create them): neither is a difference.
  exec_sql(src.conninfo,
           "create table mixed(id int, gone text, n numeric, f float8, txt text, b bytea, "
           "  arr int[], tarr text[], j jsonb, ts timestamptz, iv interval, flag bool, d date, "
           "  twice int generated always as (id * 2) stored);"
           "alter table mixed drop column gone;" +
               rows);
  exec_sql(dst.conninfo,
           "create table mixed(d date, flag bool, iv interval, ts timestamptz, j jsonb, "
           "  tarr text[], arr int[], b bytea, txt text, f float8, n numeric, id int, "
           "  twice int generated always as (id * 2) stored);" +
               rows);
  on_both(src, dst,
          "create table parted(id int, v text) partition by range (id);"
          "create table parted_low partition of parted for values from (0) to (100);"
          "create table parted_high partition of parted for values from (100) to (1000);"
          "insert into parted select g, 'v' || g from generate_series(1, 999) g;"
          "create table \"Odd \"\"Name\"\"\"(\"Mixed Case\" text, \"select\" bytea);"
          "insert into \"Odd \"\"Name\"\"\" values ('x', '\\x00ff'), (null, null), ('', '\\x');"
          "create table nocols(); insert into nocols default values; "
          "insert into nocols default values;"
          "create unlogged table scratch(k int); insert into scratch values (1), (2);");
  // The target database's own defaults must not change the text the rows
  // hash to: verify sets the session itself.
  exec_sql(
      dst.conninfo,
      "alter database " + uringmig::test::quote_ident(dst.name) +
          " set timezone = 'Asia/Kolkata'; alter database " +
          uringmig::test::quote_ident(dst.name) + " set datestyle = 'SQL, DMY'; alter database " +
          uringmig::test::quote_ident(dst.name) +
          " set intervalstyle = 'sql_standard'; alter database " +
          uringmig::test::quote_ident(dst.name) + " set extra_float_digits = 0; alter database " +
          uringmig::test::quote_ident(dst.name) + " set bytea_output = 'escape'");
  auto o = verify_options(src, dst);
  o.jobs = 4;
  auto r = verify(o);
  EXPECT_EQ(r.rc, 0) << r.error;
  EXPECT_TRUE(contains(r.output, "public.parted_low")) << r.output;
  EXPECT_TRUE(contains(r.output, "public.Odd \"Name\"")) << r.output;
  EXPECT_TRUE(contains(r.output, "6 identical, 0 differ")) << r.output;
  auto md5 = o;
  md5.settings["verify.hash"] = "md5";
  EXPECT_EQ(verify(md5).rc, 0);

  // Each kind of change is seen.
  exec_sql(dst.conninfo, "update mixed set tarr = '{\"a b\",\"c,d\",NULL,NULL}' where id = 1");
  exec_sql(dst.conninfo,
           "update \"Odd \"\"Name\"\"\" set \"select\" = '\\x00fe' where "
           "\"Mixed Case\" = 'x'");
  exec_sql(dst.conninfo, "update parted set v = 'changed' where id = 150");
  exec_sql(dst.conninfo, "delete from nocols where ctid = (select min(ctid) from nocols)");
  for (const auto& opts : {o, md5}) {
    r = verify(opts);
    EXPECT_TRUE(contains(r.error, "4 table(s) differ: ")) << r.error;
    for (const char* t :
         {"public.mixed", "public.Odd \"Name\"", "public.parted_high", "public.nocols"})
      EXPECT_TRUE(contains(r.error, t)) << t << " not in: " << r.error;
    EXPECT_TRUE(contains(r.output, "DIFFERS: rows 2 vs 1")) << r.output;
  }

  md5.settings["verify.hash"] = "sha1";
  EXPECT_THROW(engine::verify::run_verify(md5), engine::usage_error);
}

TEST(verify, latin1_target_of_a_utf8_source_compares_by_characters) {
  // A LATIN1 -> UTF-8 migration: the same characters are other bytes on each
  // side, so verify must hash them in one encoding.
  const auto& cl = uringmig::test::shared_cluster();
  auto src = fresh_database("verify_enc_src");
  const std::string latin1 = src.name + "_latin1";
  exec_sql(cl.conninfo(), "create database " + uringmig::test::quote_ident(latin1) +
                              " encoding 'LATIN1' locale 'C' template template0");
  const std::string ddl =
      "create table menu(U&\"plat\\00e9\" text, price numeric);"
      "insert into menu values (U&'caf\\00e9 cr\\00e8me', 3.5), ('plain', 1), (null, 0)";
  exec_sql(src.conninfo, ddl);
  exec_sql(cl.conninfo(latin1), ddl);
  ASSERT_EQ(query_value(cl.conninfo(latin1),
                        "select octet_length(U&\"plat\\00e9\") from menu where price = 3.5"),
            "10");
  auto o = verify_options(src, src);
  o.target_url = cl.tcp_url(latin1);
  auto r = verify(o);
  EXPECT_EQ(r.rc, 0) << r.error;

  exec_sql(cl.conninfo(latin1),
           "update menu set U&\"plat\\00e9\" = U&'caf\\00e8' where price = 3.5");
  EXPECT_EQ(verify(o).error, "1 table(s) differ: public.menu");
}

TEST(verify, generated_and_missing_columns_are_compared) {
  auto src = fresh_database("verify_gen_src");
  auto dst = fresh_database("verify_gen_dst");
  exec_sql(src.conninfo,
           "create table g(id int, v int generated always as (id * 2) stored, w text);"
           "insert into g(id, w) select x, 'w' from generate_series(1, 100) x;"
           "create table narrow(a int, b int); insert into narrow values (1, 2);");
  exec_sql(dst.conninfo,
           "create table g(id int, v int generated always as (id * 3) stored, w text);"
           "insert into g(id, w) select x, 'w' from generate_series(1, 100) x;"
           "create table narrow(a int); insert into narrow values (1);");
  auto r = verify(verify_options(src, dst));
  EXPECT_EQ(r.error, "2 table(s) differ: public.g, public.narrow");
  EXPECT_TRUE(contains(r.output, "DIFFERS: column(s) missing on target: \"b\"")) << r.output;
}

TEST(verify, a_table_that_cannot_be_read_fails_alone_and_the_rest_is_checked) {
  auto src = fresh_database("verify_locked_src");
  auto dst = fresh_database("verify_locked_dst");
  on_both(src, dst,
          "create table locked(a int); insert into locked select generate_series(1, 10000);"
          "create table later(a int); insert into later values (1)");
  exec_sql(dst.conninfo, "alter database " + uringmig::test::quote_ident(dst.name) +
                             " set lock_timeout = '200ms'");
  // Another session holds the target table: reading it times out on the lock.
  PGconn* holder = PQconnectdb(dst.conninfo.c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK);
  PQclear(PQexec(holder, "begin; lock table locked in access exclusive mode"));
  auto o = verify_options(src, dst);
  o.jobs = 1;  // one worker: `later` runs in the same target transaction after the failure
  auto r = verify(o);
  PQfinish(holder);
  EXPECT_EQ(r.error, "1 table(s) could not be checked: public.locked (see the table lines)");
  EXPECT_TRUE(contains(
      r.output, "ERROR on target: computing the checksum: canceling statement due to lock timeout"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "1 identical, 0 differ, 1 could not be checked")) << r.output;
}

TEST(verify, max_runtime_stops_before_the_next_table) {
  auto src = fresh_database("verify_deadline_src");
  auto dst = fresh_database("verify_deadline_dst");
  on_both(src, dst,
          "create table slow(a int); insert into slow select generate_series(1, 10000);"
          "create table never(a int); insert into never values (1)");
  exec_sql(dst.conninfo,
           "alter database " + uringmig::test::quote_ident(dst.name) + " set lock_timeout = '2s'");
  PGconn* holder = PQconnectdb(dst.conninfo.c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK);
  PQclear(PQexec(holder, "begin; lock table slow in access exclusive mode"));
  auto o = verify_options(src, dst);
  o.jobs = 1;
  o.max_runtime = std::chrono::seconds(1);
  auto r = verify(o);
  PQfinish(holder);
  EXPECT_TRUE(contains(r.error,
                       "--max-runtime 1s reached: stopped before every table was "
                       "verified"))
      << r.error;
  EXPECT_FALSE(contains(r.output, "public.never")) << r.output;
}

TEST(verify, unreachable_target_is_one_line_without_the_password) {
  auto src = fresh_database("verify_unreach_src");
  exec_sql(src.conninfo, "create table t(a int)");
  engine::job_options o;
  o.source_url = src.socket_url;
  o.target_url = "postgresql://u:hunter2@127.0.0.1:1/db";
  auto r = verify(o);
  EXPECT_TRUE(contains(r.error, "cannot connect to the target postgresql://u:")) << r.error;
  EXPECT_FALSE(contains(r.error, "hunter2")) << r.error;
  EXPECT_FALSE(contains(r.error, "\n")) << r.error;

  const auto& cl = uringmig::test::shared_cluster();
  o.target_url = src.tcp_url;
  o.source_url = cl.tcp_url(src.name, "hunter2-wrong");
  r = verify(o);
  EXPECT_TRUE(contains(r.error, "cannot connect to the source ")) << r.error;
  EXPECT_FALSE(contains(r.error, "hunter2")) << r.error;

  o.source_url = "mysql://u:hunter2@h/db";
  EXPECT_THROW(engine::verify::run_verify(o), engine::usage_error);
}

// Many chunks' worth of rows with both hashes (the figure printed is for the log; verify's speed
// belongs in a benchmark, not a test).
TEST(verify, two_hundred_thousand_rows_both_hashes) {
  auto src = fresh_database("verify_1m_src");
  auto dst = fresh_database("verify_1m_dst");
  on_both(src, dst,
          "create table big(id bigint primary key, name text, amount numeric, at timestamptz, "
          "  tags text[]);"
          "insert into big select g, 'name ' || g, g * 1.5, '2024-01-01'::timestamptz + g * "
          "  interval '1 second', array['a', g::text] from generate_series(1, 200000) g");
  const auto t0 = std::chrono::steady_clock::now();
  auto r = verify(verify_options(src, dst));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.rc, 0) << r.error;
  EXPECT_TRUE(contains(r.output, "200000")) << r.output;
  auto md5 = verify_options(src, dst);
  md5.settings["verify.hash"] = "md5";
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(verify(md5).rc, 0);
  const double md5_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf(
      "[perf] verify of a 200k-row table (both sides): %.2fs (hashtextextended), %.2fs "
      "(md5)\n",
      secs, md5_secs);
}
