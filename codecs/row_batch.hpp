#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

// Rows in flight between a reader and a shard writer: a flat byte string of typed values,
// appended without per-value allocation and read back as views. The five kinds are SQLite's
// storage classes, so a SQLite source's INTEGER/REAL/TEXT/BLOB/NULL arrive as they were.
//
// Layout of one row: Int64 rowid, then per column one tag byte and its payload:
//   'n' NULL | 'i' Int64 | 'r' double | 't' UInt32 length + UTF-8 | 'b' UInt32 length + bytes
// or, for a row read raw from a SQLite file, one 'R' + UInt32 length + the SQLite record
// itself (header and body, as stored), which a shard writer copies without decoding.
// Integers are in host byte order: a batch never leaves the process.

namespace uringmig::codecs {

enum class value_kind : char { null = 'n', integer = 'i', real = 'r', text = 't', blob = 'b' };

struct value_view {
  value_kind kind = value_kind::null;
  std::int64_t i = 0;
  double r = 0;
  std::string_view bytes;  // text or blob
};

/// Appends rows to a batch.
class row_batch_writer {
 public:
  explicit row_batch_writer(std::string& out) : out_(out) {}

  void begin_row(std::int64_t rowid) { put(&rowid, sizeof rowid); }
  void null() { out_.push_back(static_cast<char>(value_kind::null)); }
  void integer(std::int64_t v) {
    out_.push_back(static_cast<char>(value_kind::integer));
    put(&v, sizeof v);
  }
  void real(double v) {
    out_.push_back(static_cast<char>(value_kind::real));
    put(&v, sizeof v);
  }
  void text(std::string_view v) { bytes(value_kind::text, v); }
  void blob(std::string_view v) { bytes(value_kind::blob, v); }
  void value(const value_view& v) {
    switch (v.kind) {
      case value_kind::null:
        null();
        break;
      case value_kind::integer:
        integer(v.i);
        break;
      case value_kind::real:
        real(v.r);
        break;
      case value_kind::text:
        text(v.bytes);
        break;
      case value_kind::blob:
        blob(v.bytes);
        break;
    }
  }
  /// The whole row as a SQLite record (after begin_row, instead of the values).
  void record(std::string_view rec) {
    out_.push_back(record_tag);
    const auto n = static_cast<std::uint32_t>(rec.size());
    put(&n, sizeof n);
    out_.append(rec);
  }
  static constexpr char record_tag = 'R';

 private:
  void put(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  void bytes(value_kind k, std::string_view v) {
    out_.push_back(static_cast<char>(k));
    const auto n = static_cast<std::uint32_t>(v.size());
    put(&n, sizeof n);
    out_.append(v);
  }
  std::string& out_;
};

/// Reads a batch made by row_batch_writer with a known column count. The batch is trusted
/// (it never comes from outside the process): no bounds checks beyond the end of the batch.
class row_batch_reader {
 public:
  explicit row_batch_reader(std::string_view batch) : p_(batch.data()), end_(p_ + batch.size()) {}

  bool at_end() const noexcept { return p_ >= end_; }
  /// After rowid(): whether the row is one SQLite record (row_batch_writer::record).
  bool next_is_record() const noexcept { return *p_ == row_batch_writer::record_tag; }
  std::string_view record() noexcept {
    ++p_;
    const auto n = get<std::uint32_t>();
    std::string_view v(p_, n);
    p_ += n;
    return v;
  }
  const char* position() const noexcept { return p_; }
  std::int64_t rowid() noexcept { return get<std::int64_t>(); }
  value_view value() noexcept {
    value_view v;
    v.kind = static_cast<value_kind>(*p_++);
    switch (v.kind) {
      case value_kind::null:
        break;
      case value_kind::integer:
        v.i = get<std::int64_t>();
        break;
      case value_kind::real:
        v.r = get<double>();
        break;
      case value_kind::text:
      case value_kind::blob: {
        const auto n = get<std::uint32_t>();
        v.bytes = std::string_view(p_, n);
        p_ += n;
        break;
      }
    }
    return v;
  }

 private:
  template <class T>
  T get() noexcept {
    T v;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    return v;
  }
  const char* p_;
  const char* end_;
};

}  // namespace uringmig::codecs
