#pragma once

#include "codecs/row_batch.hpp"
#include "codecs/sqlite_image.hpp"
#include "connectors/sqlite/database.hpp"

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Writes one table into one SQLite file (a shard of a shard set, or a plain target file),
// tuned for a bulk load, and remembers in the same file which source chunks it has fully
// received, so a killed load resumes with every row exactly once.
//
// In the file, next to the table:
//   _uringmig_chunks(tbl, chunk_no, rows)  a chunk's mark, committed with its last rows
//   _uringmig_meta(tbl, key, value)        job = fingerprint of the job that writes the table;
//                                          status = loading | complete
// Rows carry their rowid (the source's rowid, or one the reader derived from the chunk), so
// the rows of a chunk that was not marked can be found and deleted before it is redone.
// Blocking: use it from one thread of its own.

namespace uringmig::connectors::sqlite {

struct shard_writer_options {
  std::filesystem::path file;
  std::string table;
  std::string create_sql;            // CREATE TABLE for `table`, run when it does not exist
  std::vector<std::string> columns;  // in batch order
  /// How rows of an unfinished chunk are found again after a crash.
  ///  sequential: rows get rowids 1, 2, ... in the order written, chunks are written one after
  ///              another, and each mark records the row count after its chunk: what lies
  ///              beyond the last mark is unfinished (the caller must send chunks one at a time).
  ///  ranges:     a column is the rowid (INTEGER PRIMARY KEY) and chunks are ranges of it.
  ///  whole:      one chunk; unfinished means the whole table (WITHOUT ROWID tables).
  enum class resume_by { sequential, ranges, whole } resume = resume_by::sequential;
  std::vector<std::string> index_sql;  // built after the data (CREATE INDEX IF NOT EXISTS ...)
  std::string fingerprint;             // the job's; a file written by another job is refused
  /// Receives each batch once its rows ran (to reuse the buffer); unset: freed.
  std::function<void(std::string&&)> recycle;
  int page_size = 16384;  // for a new file (set before WAL)
  int cache_mib = 4;
  bool load_wal = false;  // load in WAL mode too (default: rollback journal, WAL at the end)
  std::int64_t commit_rows = 500000;  // a transaction holds at least this many rows
  int max_rows_per_insert = 0;        // 0: as many as SQLITE_LIMIT_VARIABLE_NUMBER allows
  /// Append rows as an in-memory database image (codecs/sqlite_image.hpp) copied in with
  /// INSERT ... SELECT, SQLite's record-by-record transfer, instead of bound INSERTs. Used when
  /// the table allows it (no index or constraint index during the load, no generated column);
  /// each image is a transaction of at most segment_bytes of records.
  bool segment_insert = true;
  std::size_t segment_bytes = 2 * 1024 * 1024;
  /// Several processes write this file (the workers of one job): a chunk's rows wait in its
  /// segment image (rows past a segment's size, or of bound INSERTs, in a private staging table:
  /// the connection's temp database) and reach the table in one short
  /// transaction with the chunk's mark, which also finds a chunk another process marked and
  /// adds it no second time. The file's lock is never held while rows are awaited, so writers
  /// of different processes cannot wait on each other in a cycle. Chunks must reach the writer
  /// one at a time; load_wal is not for this (WAL needs every writer on one host).
  bool shared = false;
};

/// A chunk's rowid range, for resume_by::ranges.
struct chunk_range {
  int chunk_no = 0;
  std::int64_t lo = 0;
  std::int64_t hi = 0;
};

class shard_writer {
 public:
  /// Opens or creates the file and the table. Throws error; and error with SQLITE_MISMATCH
  /// when the table was loaded by a different job (another source, key or shard count).
  explicit shard_writer(shard_writer_options o);
  shard_writer(const shard_writer&) = delete;
  shard_writer& operator=(const shard_writer&) = delete;

  /// Chunks this file has fully received: read at open, then each commit adds its chunks. Safe
  /// to call from another thread than the one writing (readers ask while the writer commits).
  std::set<int> done_chunks() const {
    std::lock_guard lk(done_mu_);
    return done_;
  }
  bool chunk_done(int chunk_no) const {
    std::lock_guard lk(done_mu_);
    return done_.count(chunk_no) > 0;
  }
  /// Deletes what earlier, killed runs left of chunks that are not done, in one transaction.
  /// `ranges`: every chunk's range (resume_by::ranges only).
  void clear_unfinished(const std::vector<chunk_range>& ranges);

  /// Rows of a batch (codecs/row_batch.hpp) for the current transaction. The writer keeps the
  /// batch until its rows ran: text and blobs are bound without copying.
  void insert(std::string batch, std::int64_t rows);
  /// All rows of `chunk_no` for this file have been inserted: its mark joins the transaction
  /// (shared: the rows and the mark commit now, or go when another process marked the chunk).
  void end_chunk(int chunk_no, std::int64_t rows);
  /// Commits when at least commit_rows rows wait; returns the chunks whose marks committed.
  std::vector<int> maybe_commit();
  std::vector<int> commit();
  /// Commits, builds the indexes, makes the file durable (synchronous NORMAL, WAL
  /// checkpoint) and marks the table complete.
  void finish();

  std::int64_t rows_written() const noexcept { return rows_written_; }
  const std::filesystem::path& file() const noexcept { return o_.file; }

 private:
  void begin_if_needed();
  /// Runs what is buffered and commits the open transaction (shared: of the staging table).
  void commit_tx();
  /// shared: the chunk's mark and its rows (the staging table's, then its last segment's
  /// straight from the image) into the file, in one transaction.
  void publish(int chunk_no, std::int64_t rows);
  /// Ends the transaction's use of the segment image: swaps in a tiny one (out of a
  /// transaction), freeing the builder's.
  void release_segment_image();
  void flush_pending();
  void run_rows(std::size_t count);
  statement& insert_statement(std::size_t rows);
  void set_meta(std::string_view key, std::string_view value, bool replace = true);
  void setup_segments();
  void insert_segment(std::string& batch, std::int64_t rows);
  /// The segment's rows into `into` ("insert into ..."; default: the load's table, or the
  /// staging table when shared).
  void flush_segment(const std::string& into = {});
  void recycle(std::string&& b) {
    if (o_.recycle) o_.recycle(std::move(b));
  }

  shard_writer_options o_;
  database db_;
  mutable std::mutex done_mu_;  // done_ changes on the writer's thread at commit
  std::set<int> done_;
  bool in_tx_ = false;
  std::size_t params_per_row_ = 0;
  std::size_t rows_per_insert_ = 1;
  std::map<std::size_t, statement> inserts_;  // by row count: the full size and powers of two
  statement mark_;
  struct held_batch {
    std::string bytes;
    std::size_t rows_left = 0;  // rows of it not yet executed
  };
  std::deque<held_batch> batches_;  // bound by reference: kept until their rows ran
  const char* cursor_ = nullptr;    // the next row to run, in batches_.front()
  std::size_t pending_ = 0;         // rows inserted but not run yet
  std::vector<int> ended_;          // chunks marked in the open transaction (shared: committed)
  std::string insert_into_;         // "insert into <where rows go>"
  std::int64_t rows_in_tx_ = 0;
  std::int64_t table_rows_ = 0;  // rows committed by earlier runs (the largest end_row)
  // Segment inserts (segment_insert):
  std::optional<codecs::sqlite_image_builder> segment_;
  std::string empty_image_;       // swapped in after each copy, so the image is free
  std::size_t alias_ = SIZE_MAX;  // the INTEGER PRIMARY KEY column: the cell's rowid
  std::int64_t segment_seq_ = 0;
  std::vector<codecs::value_view> values_;
  std::string record_;
  std::int64_t rows_written_ = 0;
};

}  // namespace uringmig::connectors::sqlite
