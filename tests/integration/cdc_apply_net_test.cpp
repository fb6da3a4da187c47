// engine/cdc/apply's net apply (cdc/apply_net.cpp): a group's changes to one key reduced to
// their net effect and sent as multi-row statements — only where the order of rows cannot matter.
#include "tests/integration/cdc_apply_support.hpp"

using namespace uringmig::test::cdc_apply;

TEST(cdc_apply_net, every_sequence_of_changes_to_a_key_ends_as_on_the_source) {
  cdc_pair p("cdc_net",
             "CREATE TABLE k (id int PRIMARY KEY, v text, n int, doc text); "
             "ALTER TABLE k ALTER COLUMN doc SET STORAGE EXTERNAL",
             "k");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    sql(p.src,
        "INSERT INTO k SELECT g, 'v' || g, 0, (SELECT string_agg(md5(x::text || g), '') "
        "FROM generate_series(1, 100) x) FROM generate_series(1, 10) g");
    // One transaction, so one group: every path of the merge.
    sql(p.src,
        "BEGIN; "
        "DO $$ BEGIN FOR i IN 1..500 LOOP UPDATE k SET n = n + 1 WHERE id = 1; END LOOP; END $$; "
        "INSERT INTO k VALUES (100, 'gone', 1, 'd'); UPDATE k SET v = 'x' WHERE id = 100; "
        "DELETE FROM k WHERE id = 100; "  // none
        "INSERT INTO k VALUES (101, 'a', 1, 'd'); DELETE FROM k WHERE id = 101; "
        "INSERT INTO k VALUES (101, 'back', 2, 'd2'); "  // insert again
        "DELETE FROM k WHERE id = 2; INSERT INTO k VALUES (2, 'replaced', 2, NULL); "  // replace
        "DELETE FROM k WHERE id = 3; INSERT INTO k VALUES (3, 'r', 3, 'r'); "
        "UPDATE k SET n = 33 WHERE id = 3; "  // replace, merged
        "UPDATE k SET doc = 'short doc' WHERE id = 4; UPDATE k SET n = 44 WHERE id = 4; "
        "UPDATE k SET v = 'before key change' WHERE id = 5; UPDATE k SET id = 5005 WHERE id = 5; "
        "UPDATE k SET v = 'after key change' WHERE id = 5005; "           // key change
        "UPDATE k SET n = 66 WHERE id = 6; DELETE FROM k WHERE id = 6; "  // remove
        "UPDATE k SET v = NULL WHERE id = 7; "                            // doc unchanged: 'u'
        "COMMIT");
    seen s;
    co_await apply_and_flush(rc, a, s, 1);  // the inserts alone: then updates merge with updates
    co_await apply_and_flush(rc, a, s, 1);
    EXPECT_GE(s.unchanged_toast, 500) << "the updates did not carry unchanged TOAST values";
    p.expect_same("k", "id", "format('%s|%s|%s|%s', id, v, n, md5(doc))");
    EXPECT_EQ(p.target("SELECT n FROM k WHERE id = 1"), "500");
    EXPECT_EQ(p.target("SELECT count(*) FROM k WHERE id IN (5, 6, 100)"), "0");
    // 10 inserts, then ~ one row write per key touched instead of one per change.
    const auto st = a.stats();
    EXPECT_GE(st.changes, 520u);
    EXPECT_LE(st.rows_written, 30u) << "changes were not coalesced per key";
    co_await rc.stop();
  }());
}

TEST(cdc_apply_net, a_unique_index_without_the_key_keeps_every_change_in_order) {
  // u: email is unique on its own, swapping two emails needs the source's order (coalesced into
  // one multi-row UPDATE it would collide). c: the unique index contains the key: coalesced.
  cdc_pair p("cdc_net_unique",
             "CREATE TABLE u (id int PRIMARY KEY, email text UNIQUE); "
             "CREATE TABLE c (id int PRIMARY KEY, email text, UNIQUE (email, id))",
             "u, c");
  // Only the target has this one: what the target enforces is what counts.
  sql(p.dst, "CREATE UNIQUE INDEX c_extra ON c (lower(email))");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    sql(p.src, "INSERT INTO u VALUES (1, 'a'), (2, 'b'); INSERT INTO c VALUES (1, 'a'), (2, 'b')");
    const std::string swap =
        "UPDATE %1$s SET email = 'tmp' WHERE id = 1; UPDATE %1$s SET email = 'a' WHERE id = 2; "
        "UPDATE %1$s SET email = 'b' WHERE id = 1; ";
    std::string both = "BEGIN; ";
    for (const char* t : {"u", "c"}) {
      std::string one = swap;
      for (std::size_t at; (at = one.find("%1$s")) != std::string::npos;)
        one.replace(at, 4, t);
      both += one;
    }
    sql(p.src, both + "COMMIT");
    seen s;
    co_await apply_and_flush(rc, a, s, 2);
    p.expect_same("u", "id");
    p.expect_same("c", "id");
    EXPECT_EQ(p.target("SELECT string_agg(email, ',' ORDER BY id) FROM c"), "b,a");
    // 4 inserts; u's 3 updates one by one; c's target-only index on an expression without the
    // key makes c keep its order as well: 3 more.
    EXPECT_EQ(a.stats().rows_written, 10u);
    co_await rc.stop();
  }());
}

TEST(cdc_apply_net, a_unique_index_containing_the_key_lets_changes_coalesce) {
  cdc_pair p("cdc_net_cover",
             "CREATE TABLE c (id int PRIMARY KEY, email text, n int, UNIQUE (email, id))", "c");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    sql(p.src,
        "BEGIN; INSERT INTO c VALUES (1, 'a', 0), (2, 'b', 0); "
        "UPDATE c SET email = 'tmp' WHERE id = 1; UPDATE c SET email = 'a' WHERE id = 2; "
        "UPDATE c SET email = 'b', n = 1 WHERE id = 1; UPDATE c SET n = n + 1; COMMIT");
    seen s;
    co_await apply_and_flush(rc, a, s, 1);
    p.expect_same("c", "id");
    EXPECT_EQ(a.stats().changes, 7u);
    EXPECT_EQ(a.stats().rows_written, 2u) << "two inserts, merged with their updates";
    co_await rc.stop();
  }());
}

TEST(cdc_apply_net, awkward_values_arrive_unchanged_through_copy_arrays_and_values) {
  // 300 inserts in a group go out as COPY (tabs, newlines, backslashes, "\N" as text); updates
  // and deletes of q as arrays (quotes, braces, commas, 'NULL' as text, NULL); w has an array
  // column: its updates go out as VALUES.
  cdc_pair p("cdc_net_values",
             "CREATE TABLE w (id int, sub text, v text, tags text[], j jsonb, "
             "PRIMARY KEY (id, sub)); CREATE TABLE q (id int PRIMARY KEY, v text)",
             "w, q");
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto rc = co_await start_stream(p, "");
    auto a = co_await open_applier(p, p.options());
    sql(p.src,
        R"(BEGIN; INSERT INTO w SELECT g, E'a\tb\n' || g, E'x\\y"{},' || g,
           ARRAY['p,q', NULL, E'r"s'], '{"k": 1}' FROM generate_series(1, 300) g;
           INSERT INTO q SELECT g, E'\\N' || g FROM generate_series(1, 300) g; COMMIT)");
    sql(p.src,
        R"(BEGIN; UPDATE q SET v = CASE WHEN id % 3 = 0 THEN NULL WHEN id % 3 = 1 THEN 'NULL'
           ELSE E'q"\\{},\t' || id END WHERE id <= 100;
           UPDATE w SET tags = ARRAY[v, NULL], j = '{"k": [1, "{x}"]}' WHERE id <= 50;
           DELETE FROM q WHERE id > 250; DELETE FROM w WHERE id > 280; COMMIT)");
    seen s;
    co_await apply_and_flush(rc, a, s, 1);
    co_await apply_and_flush(rc, a, s, 1);
    p.expect_same("w", "id, sub");
    p.expect_same("q", "id");
    EXPECT_EQ(p.target("SELECT count(*) FROM q WHERE v IS NULL"), "33");
    EXPECT_EQ(p.target("SELECT count(*) FROM q WHERE v = 'NULL'"), "34");
    EXPECT_EQ(p.target("SELECT count(*) FROM w"), "280");
    co_await rc.stop();
  }());
}
