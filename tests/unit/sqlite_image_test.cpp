// codecs/sqlite_image: images SQLite opens (sqlite3_deserialize), reads back exactly, passes
// integrity_check, and copies into a file with INSERT ... SELECT.
#include "codecs/sqlite_image.hpp"
#include "connectors/sqlite/database.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace uc = uringmig::codecs;
namespace sq = uringmig::connectors::sqlite;

namespace {

struct row {
  std::int64_t rowid;
  std::vector<uc::value_view> values;
};

std::vector<row> make_rows(int n, const std::vector<std::string>& texts) {
  std::vector<row> rows;
  for (int i = 0; i < n; ++i) {
    row r;
    r.rowid = (i % 2 == 0) ? 1000000 - i : i * 7 - 5000;  // out of order, negative too
    uc::value_view a, b, c, d;
    a.kind = uc::value_kind::integer;
    const std::int64_t ints[] = {0,
                                 1,
                                 -1,
                                 127,
                                 -128,
                                 32767,
                                 -32769,
                                 8388607,
                                 -8388609,
                                 2147483647,
                                 -2147483649ll,
                                 140737488355327ll,
                                 -140737488355329ll,
                                 INT64_MAX,
                                 INT64_MIN};
    a.i = ints[i % 15];
    b.kind = uc::value_kind::real;
    b.r = i / 3.0 - 7;
    c.kind = i % 5 == 0 ? uc::value_kind::null : uc::value_kind::text;
    c.bytes = texts[static_cast<std::size_t>(i) % texts.size()];
    d.kind = uc::value_kind::blob;
    d.bytes = std::string_view(texts[static_cast<std::size_t>(i + 1) % texts.size()]);
    r.values = {a, b, c, d};
    rows.push_back(r);
  }
  return rows;
}

std::string dump(sq::database& db, const std::string& table) {
  sq::statement s = db.prepare("select rowid, quote(a), quote(b), quote(c), quote(d) from " +
                               table + " order by rowid");
  std::string out;
  while (s.step()) {
    out += std::to_string(s.column_int64(0));
    for (int i = 1; i < 5; ++i)
      out += "|" + std::string(s.column_text(i));
    out += "\n";
  }
  return out;
}

/// Attaches `image` read-only as schema "seg".
int attach_image(sq::database& db, const std::string& image) {
  db.exec("attach ':memory:' as seg");
  return sqlite3_deserialize(db.get(), "seg",
                             reinterpret_cast<unsigned char*>(const_cast<char*>(image.data())),
                             static_cast<sqlite3_int64>(image.size()),
                             static_cast<sqlite3_int64>(image.size()), SQLITE_DESERIALIZE_READONLY);
}

}  // namespace

class SqliteImage : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(SqliteImage, SqliteReadsWhatWasBuilt) {
  const std::vector<std::string> texts = {
      "", "ü", "plain", std::string(3000, 'x'), std::string(70000, 'y'), std::string(200, '\0')};
  const auto rows = make_rows(5000, texts);
  const std::string create = "CREATE TABLE t(a INTEGER, b REAL, c TEXT, d BLOB)";
  uc::sqlite_image_builder img("t", create, GetParam());
  std::string rec;
  for (const auto& r : rows) {
    rec.clear();
    uc::append_record(rec, r.values);
    img.add(r.rowid, rec);
  }
  const std::string& image = img.build();
  ASSERT_EQ(image.size() % GetParam(), 0u);

  // The same rows through SQL, for comparison.
  auto want = sq::database::open(":memory:", sq::open_mode::read_write_create);
  want.exec(create);
  {
    sq::statement ins =
        want.prepare("insert into t(rowid, a, b, c, d) values (?1, ?2, ?3, ?4, ?5)");
    for (const auto& r : rows) {
      ins.bind_int64(1, r.rowid);
      ins.bind_int64(2, r.values[0].i);
      ins.bind_double(3, r.values[1].r);
      if (r.values[2].kind == uc::value_kind::null)
        ins.bind_null(4);
      else
        ins.bind_text(4, r.values[2].bytes);
      ins.bind_blob(5, r.values[3].bytes);
      ins.run();
    }
  }

  auto db = sq::database::open(":memory:", sq::open_mode::read_write_create);
  ASSERT_EQ(attach_image(db, image), SQLITE_OK);
  EXPECT_EQ(db.scalar_text("pragma seg.integrity_check"), "ok");
  EXPECT_EQ(dump(db, "seg.t"), dump(want, "t"));

  // Copied into a table of the same schema, twice (the second time appends after the first).
  db.exec(create);
  db.exec("insert into main.t select * from seg.t");
  db.exec("insert into main.t select * from seg.t");
  EXPECT_EQ(db.scalar_int("select count(*) from main.t"), 10000);
  EXPECT_EQ(db.scalar_int("select count(distinct rowid) from main.t"), 10000);
  EXPECT_EQ(db.scalar_text("pragma main.integrity_check"), "ok");
}

INSTANTIATE_TEST_SUITE_P(PageSizes, SqliteImage, ::testing::Values(512u, 4096u, 65536u));

TEST(SqliteImageEmpty, AnEmptyTable) {
  uc::sqlite_image_builder img("e", "CREATE TABLE e(x)");
  const std::string& image = img.build();
  auto db = sq::database::open(":memory:", sq::open_mode::read_write_create);
  ASSERT_EQ(attach_image(db, image), SQLITE_OK);
  EXPECT_EQ(db.scalar_int("select count(*) from seg.e"), 0);
  EXPECT_EQ(db.scalar_text("pragma seg.integrity_check"), "ok");
}
