#include "connectors/sqlite/database.hpp"

#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace {

namespace sqlite = uringmig::connectors::sqlite;
using uringmig::test::temp_dir;

sqlite::database scratch(const temp_dir& d) {
  auto db = sqlite::database::open(d.path / "t.db", sqlite::open_mode::read_write_create);
  db.exec("CREATE TABLE t (i INTEGER, r REAL, s TEXT, n TEXT)");
  return db;
}

TEST(sqlite_database, bind_all_binds_in_order_and_copies_text) {
  temp_dir d;
  auto db = scratch(d);
  {
    std::string text = "kept";
    auto ins = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?)");
    ins.bind_all(std::int64_t{7}, 2.5, text, std::optional<std::string>());
    text = "overwritten before the step";  // bound as a copy
    ins.run();
  }
  db.run("INSERT INTO t VALUES (?, ?, ?, ?)", 8, 0.5, "lit", std::optional<std::string>("x"));
  EXPECT_EQ(db.last_insert_rowid(), 2);
  auto q = db.prepare("SELECT i, r, s, n FROM t ORDER BY i");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.column_int64(0), 7);
  EXPECT_EQ(q.column_double(1), 2.5);
  EXPECT_EQ(q.column_text(2), "kept");
  EXPECT_EQ(q.column_opt_text(3), std::nullopt);
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.column_text(2), "lit");
  EXPECT_EQ(q.column_opt_text(3), std::optional<std::string>("x"));
  EXPECT_FALSE(q.step());
}

TEST(sqlite_database, transaction_rolls_back_unless_committed) {
  temp_dir d;
  auto db = scratch(d);
  {
    sqlite::transaction t(db, sqlite::transaction::kind::write);
    db.run("INSERT INTO t (i) VALUES (?)", 1);
  }
  EXPECT_EQ(db.scalar_int("SELECT count(*) FROM t"), 0);
  {
    sqlite::transaction t(db, sqlite::transaction::kind::write);
    db.run("INSERT INTO t (i) VALUES (?)", 2);
    t.commit();
  }
  EXPECT_EQ(db.scalar_int("SELECT count(*) FROM t"), 1);
}

TEST(sqlite_database, errors_name_the_file) {
  temp_dir d;
  auto db = scratch(d);
  try {
    db.run("INSERT INTO missing VALUES (?)", 1);
    FAIL() << "no error";
  } catch (const sqlite::error& e) {
    EXPECT_NE(std::string(e.what()).find("no such table: missing"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("t.db"), std::string::npos) << e.what();
  }
}

}  // namespace
