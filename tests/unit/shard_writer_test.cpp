// connectors/sqlite/shard_writer against real SQLite files.
#include "connectors/sqlite/shard_writer.hpp"
#include "codecs/row_batch.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sq = uringmig::connectors::sqlite;
namespace uc = uringmig::codecs;
using resume_by = sq::shard_writer_options::resume_by;

namespace {

bool g_segments = true;  // the insert path under test (both run, see WriterPaths)

sq::shard_writer_options options(const std::filesystem::path& file, resume_by r) {
  sq::shard_writer_options o;
  o.segment_insert = g_segments;
  o.segment_bytes = 1000;  // several segments per chunk
  o.file = file;
  o.table = "t";
  o.create_sql = r == resume_by::ranges ? "create table t(id integer primary key, v text, b blob)"
                                        : "create table t(id integer, v text, b blob)";
  o.columns = {"id", "v", "b"};
  o.resume = r;
  o.index_sql = {"create index if not exists t_v on t(v)"};
  o.fingerprint = "job-1";
  o.max_rows_per_insert = 7;  // exercises full statements and the power-of-two remainders
  return o;
}

/// Rows id = from..to-1 with v = "v<id>", b = a blob for even ids, NULL otherwise.
std::string rows(int from, int to) {
  std::string batch;
  uc::row_batch_writer w(batch);
  for (int i = from; i < to; ++i) {
    w.begin_row(i);
    w.integer(i);
    w.text("v" + std::to_string(i));
    if (i % 2 == 0)
      w.blob(std::string("\0x", 2));
    else
      w.null();
  }
  return batch;
}

std::int64_t count(const std::filesystem::path& file, const std::string& where = "1") {
  auto db = sq::database::open(file, sq::open_mode::read_only);
  return db.scalar_int("select count(*) from t where " + where);
}

}  // namespace

class ShardWriter : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { g_segments = GetParam(); }
};

TEST_P(ShardWriter, SequentialResumeDropsTheUnfinishedTail) {
  uringmig::test::temp_dir dir;
  const auto file = dir.path / "t_shard_00.db";
  {
    sq::shard_writer w(options(file, resume_by::sequential));
    EXPECT_TRUE(w.done_chunks().empty());
    w.insert(rows(0, 100), 100);
    w.end_chunk(0, 100);
    EXPECT_EQ(w.commit(), std::vector<int>{0});
    w.insert(rows(100, 150), 50);  // chunk 1, half of it, committed without its mark
    EXPECT_TRUE(w.commit().empty());
  }  // "crash": the mark of chunk 1 never came
  EXPECT_EQ(count(file), 150);
  {
    sq::shard_writer w(options(file, resume_by::sequential));
    EXPECT_EQ(w.done_chunks(), std::set<int>{0});
    w.clear_unfinished({});
    EXPECT_EQ(count(file), 100);
    w.insert(rows(100, 200), 100);
    w.end_chunk(1, 100);
    w.insert(rows(200, 203), 3);
    w.end_chunk(2, 3);
    EXPECT_EQ(w.commit(), (std::vector<int>{1, 2}));
    w.finish();
    EXPECT_EQ(w.rows_written(), 103);
  }
  EXPECT_EQ(count(file), 203);
  EXPECT_EQ(count(file, "id between 0 and 202"), 203);
  EXPECT_EQ(count(file, "typeof(b) = 'blob'"), 102);
  EXPECT_EQ(count(file, "b is null"), 101);
  auto db = sq::database::open(file, sq::open_mode::read_only);
  EXPECT_EQ(db.scalar_text("pragma journal_mode"), "wal");
  EXPECT_EQ(db.scalar_text("select value from _uringmig_meta where tbl = 't' and key = 'status'"),
            "complete");
  EXPECT_EQ(
      db.scalar_int("select count(*) from sqlite_schema where type = 'index' and name = 't_v'"), 1);
  EXPECT_EQ(db.scalar_int("select max(end_row) from _uringmig_chunks"), 203);
}

TEST_P(ShardWriter, RangeResumeDeletesTheChunksRows) {
  uringmig::test::temp_dir dir;
  const auto file = dir.path / "t.db";
  const std::vector<sq::chunk_range> ranges = {{0, 0, 99}, {1, 100, 199}};
  {
    sq::shard_writer w(options(file, resume_by::ranges));
    w.insert(rows(100, 140), 40);  // chunk 1 first, unfinished
    w.insert(rows(0, 100), 100);
    w.end_chunk(0, 100);
    w.commit();
  }
  {
    sq::shard_writer w(options(file, resume_by::ranges));
    EXPECT_EQ(w.done_chunks(), std::set<int>{0});
    w.clear_unfinished(ranges);
    EXPECT_EQ(count(file), 100);
    EXPECT_EQ(count(file, "id >= 100"), 0);
  }
}

TEST_P(ShardWriter, RefusesAFileOfAnotherJob) {
  uringmig::test::temp_dir dir;
  const auto file = dir.path / "t.db";
  { sq::shard_writer w(options(file, resume_by::sequential)); }
  auto other = options(file, resume_by::sequential);
  other.fingerprint = "job-2";
  try {
    sq::shard_writer w(other);
    FAIL() << "a file of another job was accepted";
  } catch (const sq::error& e) {
    EXPECT_EQ(e.code(), SQLITE_MISMATCH);
    EXPECT_NE(std::string(e.what()).find("different job"), std::string::npos) << e.what();
  }
}

// Segment images copied in (true) and bound multi-row INSERTs (false).
INSTANTIATE_TEST_SUITE_P(WriterPaths, ShardWriter, ::testing::Bool());
