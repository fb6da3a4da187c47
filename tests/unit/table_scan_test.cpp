// connectors/sqlite/table_scan against SQLite itself: the same rows, values and storage
// classes as `select rowid, * from t`, on files SQLite wrote with tricky content.
#include "connectors/sqlite/table_scan.hpp"
#include "connectors/sqlite/catalog.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace sq = uringmig::connectors::sqlite;
namespace uc = uringmig::codecs;

namespace {

/// One value as text with its storage class, the same way from both readers.
std::string show(const uc::value_view& v) {
  switch (v.kind) {
    case uc::value_kind::null:
      return "null";
    case uc::value_kind::integer:
      return "i:" + std::to_string(v.i);
    case uc::value_kind::real: {
      char b[64];
      sqlite3_snprintf(sizeof b, b, "%!.17g", v.r);
      return std::string("r:") + b;
    }
    case uc::value_kind::text:
    case uc::value_kind::blob: {
      // Long values as length and a hash, so a failure stays readable.
      std::string s = v.kind == uc::value_kind::text ? "t:" : "b:";
      if (v.bytes.size() <= 24) return s + std::string(v.bytes);
      return s + std::to_string(v.bytes.size()) + "#" +
             std::to_string(std::hash<std::string_view>{}(v.bytes));
    }
  }
  return "?";
}

std::vector<std::string> via_sql(sq::database& db, const std::string& table, std::int64_t lo,
                                 std::int64_t hi) {
  sq::statement s =
      db.prepare("select rowid, * from " + table + " where rowid between ?1 and ?2 order by rowid");
  s.bind_int64(1, lo);
  s.bind_int64(2, hi);
  std::vector<std::string> out;
  while (s.step()) {
    std::string row = std::to_string(s.column_int64(0));
    for (int i = 1; i < s.column_count(); ++i)
      row += "|" + show(s.column_value(i, s.column_type(i)));
    out.push_back(row);
  }
  return out;
}

std::vector<std::string> via_scan(const std::filesystem::path& file, sq::database& db,
                                  const std::string& table, std::int64_t lo, std::int64_t hi,
                                  int stop_every = 0) {
  const sq::table_info info = sq::describe_table(db, table);
  std::vector<sq::scan_column> cols;
  for (std::size_t i = 0; i < info.columns.size(); ++i) {
    sq::scan_column c;
    c.rowid_alias = info.rowid_alias == i;
    c.has_default = info.columns[i].has_default;
    c.real_affinity = sq::has_real_affinity(info.columns[i].declared_type);
    cols.push_back(c);
  }
  std::string why;
  EXPECT_TRUE(sq::table_scanner::usable(file, cols, why)) << why;
  sq::table_scanner scanner(file, info.root_page, cols);
  std::vector<std::string> out;
  std::int64_t from = lo;
  int n = 0;
  for (;;) {
    auto stopped = scanner.scan(from, hi, [&](std::int64_t rowid, const auto& values, auto) {
      std::string row = std::to_string(rowid);
      for (const auto& v : values)
        row += "|" + show(v);
      out.push_back(row);
      return stop_every == 0 || ++n % stop_every != 0;
    });
    if (!stopped) break;
    from = *stopped + 1;
  }
  return out;
}

}  // namespace

class TableScan : public ::testing::TestWithParam<int> {};

TEST_P(TableScan, SameRowsAsSqlite) {
  uringmig::test::temp_dir dir;
  const auto file = dir.path / "src.db";
  {
    auto db = sq::database::open(file, sq::open_mode::read_write_create);
    db.exec("pragma page_size = " + std::to_string(GetParam()));
    db.exec(
        "create table t(a, b text, c real, d blob, e integer);"
        "create table k(id integer primary key, v text);"
        "begin;"
        // Every storage class and integer width, NULLs, big values spilling to overflow pages.
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 3000) "
        "insert into t select case i % 7 when 0 then null when 1 then i when 2 then -i * 1000003 "
        "  when 3 then i * 1.5 when 4 then 'ü' || i when 5 then x'00ff' else 9223372036854775807 "
        "  - i end, case when i % 11 = 0 then printf('%.*c', 5000 + i, 'x') else 't' || i end, "
        "  case when i % 5 = 0 then -0.0 else i / 3.0 end, case when i % 13 = 0 then "
        "  randomblob(70000) when i % 2 = 0 then randomblob(i % 300) end, "
        "  case i % 4 when 0 then 0 when 1 then 1 when 2 then -128 else -8388608 end from n;"
        // Sparse rowids in the INTEGER PRIMARY KEY table.
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 2000) "
        "insert into k select i * i - 500000, 'v' || i from n;"
        "commit;"
        "delete from t where rowid % 17 = 0;"
        // Rows written before a column existed read it as NULL.
        "alter table t add column f text;"
        "insert into t(a, f) values ('late', 'f');");
  }
  auto db = sq::database::open(file, sq::open_mode::read_only);
  for (const char* table : {"t", "k"}) {
    for (auto [lo, hi] : std::vector<std::pair<std::int64_t, std::int64_t>>{
             {INT64_MIN, INT64_MAX}, {100, 200}, {-1000, 5}, {2999, 3001}, {5000, 6000}}) {
      const auto want = via_sql(db, table, lo, hi);
      EXPECT_EQ(via_scan(file, db, table, lo, hi), want) << table << " " << lo << ".." << hi;
      EXPECT_EQ(via_scan(file, db, table, lo, hi, 7), want) << table << " stopping every 7";
    }
  }
  EXPECT_EQ(via_sql(db, "t", INT64_MIN, INT64_MAX).size(), 2825u);  // 3000 - 176 deleted + 1

  // Decoding the first column only: it is still right, and the raw record is whole.
  const sq::table_info info = sq::describe_table(db, "t");
  std::vector<sq::scan_column> cols(info.columns.size());
  for (std::size_t i = 0; i < cols.size(); ++i)
    cols[i].real_affinity = sq::has_real_affinity(info.columns[i].declared_type);
  sq::table_scanner limited(file, info.root_page, cols);
  limited.set_decode_limit(1);
  const auto want = via_sql(db, "t", INT64_MIN, INT64_MAX);
  std::size_t rows = 0;
  limited.scan(
      INT64_MIN, INT64_MAX, [&](std::int64_t rowid, const auto& v, std::string_view record) {
        const std::string head = std::to_string(rowid) + "|" + show(v[0]) + "|";
        EXPECT_LT(rows, want.size());
        if (rows < want.size()) {
          EXPECT_EQ(want[rows].compare(0, head.size(), head), 0) << want[rows] << " vs " << head;
        }
        EXPECT_FALSE(record.empty());
        ++rows;
        return true;
      });
  EXPECT_EQ(rows, 2825u);
}

TEST(TableScanAffinity, RealAffinityFollowsSqlitesRule) {
  EXPECT_TRUE(sq::has_real_affinity("REAL"));
  EXPECT_TRUE(sq::has_real_affinity("double precision"));
  EXPECT_TRUE(sq::has_real_affinity("FLOAT"));
  EXPECT_FALSE(sq::has_real_affinity("FLOATING POINT"));  // contains INT: integer affinity
  EXPECT_FALSE(sq::has_real_affinity("NUMERIC"));
  EXPECT_FALSE(sq::has_real_affinity(""));
  EXPECT_FALSE(sq::has_real_affinity("TEXT"));
}

INSTANTIATE_TEST_SUITE_P(PageSizes, TableScan, ::testing::Values(512, 4096, 65536));

TEST(TableScanUsable, RefusesWhatItCannotRead) {
  uringmig::test::temp_dir dir;
  const auto file = dir.path / "x.db";
  std::string why;
  {
    auto db = sq::database::open(file, sq::open_mode::read_write_create);
    db.exec("create table t(a); insert into t values (1)");
  }
  EXPECT_TRUE(sq::table_scanner::usable(file, {{}}, why)) << why;
  sq::scan_column with_default;
  with_default.has_default = true;
  EXPECT_FALSE(sq::table_scanner::usable(file, {with_default}, why));
  EXPECT_NE(why.find("default"), std::string::npos);
  {
    auto db = sq::database::open(file, sq::open_mode::read_write_create);
    db.exec("pragma journal_mode = wal; pragma wal_autocheckpoint = 0; insert into t values (2)");
    EXPECT_FALSE(sq::table_scanner::usable(file, {{}}, why));
    EXPECT_NE(why.find("WAL"), std::string::npos) << why;
  }
  const auto text = dir.path / "text.db";
  {
    auto db = sq::database::open(text, sq::open_mode::read_write_create);
    db.exec("pragma encoding = 'UTF-16le'; create table t(a); insert into t values ('x')");
  }
  EXPECT_FALSE(sq::table_scanner::usable(text, {{}}, why));
  EXPECT_NE(why.find("UTF-8"), std::string::npos) << why;
}
