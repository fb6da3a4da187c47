#pragma once

#include "codecs/row_batch.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// Builds, in memory, a complete SQLite database file holding one rowid table (the file format
// of sqlite.org/fileformat2.html): page 1 with the schema, then the table's b-tree — leaves
// filled in rowid order, interior pages above them, overflow pages for big records. A shard
// writer hands such an image to sqlite3_deserialize and copies it into its file with
// `INSERT INTO t SELECT * FROM seg.t`, which SQLite runs as a record-by-record transfer (no
// decoding, no VDBE per column): the cheapest way to append rows through SQLite itself.

namespace uringmig::codecs {

/// Appends one SQLite record (header of serial types, then the body) for `values`; integers
/// take the smallest serial type, REALs eight bytes, `null_column` (the INTEGER PRIMARY KEY,
/// stored as NULL) is written NULL whatever its value.
void append_record(std::string& out, const std::vector<value_view>& values,
                   std::size_t null_column = SIZE_MAX);

class sqlite_image_builder {
 public:
  /// `create_sql`: the table's CREATE TABLE (its name must be `table`).
  sqlite_image_builder(std::string table, std::string create_sql, std::uint32_t page_size = 65536);

  /// A row: its rowid and its record (append_record). Any order; rowids must be distinct.
  void add(std::int64_t rowid, std::string_view record);
  std::size_t rows() const { return index_.size(); }
  std::size_t bytes() const { return records_.size(); }
  void clear();

  /// The database image. Valid until the next call of any member.
  const std::string& build();

 private:
  struct entry {
    std::int64_t rowid;
    std::size_t offset;
    std::size_t size;
  };
  std::uint32_t new_page();
  std::uint8_t* page_ptr(std::uint32_t no);
  std::uint32_t write_leaves();
  std::uint32_t write_interior(std::vector<std::pair<std::uint32_t, std::int64_t>> level);
  void write_schema_page(std::uint32_t root);
  std::size_t cell_size(std::size_t payload) const;

  std::string table_;
  std::string create_sql_;
  std::uint32_t page_size_;
  std::string records_;
  std::vector<entry> index_;
  std::string image_;
  std::uint32_t pages_ = 0;
  std::uint32_t generation_ = 0;
};

}  // namespace uringmig::codecs
