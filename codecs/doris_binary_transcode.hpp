#pragma once

// PostgreSQL COPY binary (COPY ... TO STDOUT (FORMAT binary)) straight into the Doris CSV
// dialect of codecs/doris_format.hpp: the same bytes doris_csv_transcoder writes for the same
// rows read as COPY text in the session engine/doris/run.cpp sets up (TimeZone UTC, DateStyle
// ISO, extra_float_digits 1, bytea_output hex). For tables whose every column has a type of
// codecs/pg_binary.hpp: PostgreSQL's send functions skip its text formatting (timestamptz most
// of all), the values are rendered here (pg_binary) with the CSV rules of doris_row_writer:
//   NULL (length -1)        \N
//   text, json, jsonb        bare, or enclosed in "" with " and \ escaped when empty or holding
//                            \x01 \n \r " \ (jsonb without its version byte)
//   boolean                  true / false
//   bytea                    lowercase hex ("" when empty)
//   timestamptz              UTC without "+00"; BC values keep "+00 BC" and infinities stay as
//                            they are, as timestamptz_to_utc leaves them
//   the rest                 PostgreSQL's text output (pg_binary.hpp)
// Input pieces may split the stream anywhere (header, tuples, lengths, values, trailer); a
// tuple split across pieces is carried, the others are rendered in place.

#include "codecs/byte_buffer.hpp"
#include "codecs/pg_binary.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::codecs {

class doris_binary_transcoder {
 public:
  /// `types`: the COPY's columns in order; every tuple must have this many fields.
  explicit doris_binary_transcoder(std::vector<pg_binary_type> types);

  /// Appends the rows `piece` completes to `out`. False (error() set) on malformed input, a
  /// tuple with another field count or a value that is not its type's send form; nothing of
  /// that row is appended.
  [[nodiscard]] bool feed(std::string_view piece, byte_buffer& out);
  /// The input ended: true when the trailer came and nothing follows it.
  bool finish() const { return step_ == step::done && carry_.empty(); }

  std::int64_t rows() const { return rows_; }
  const std::string& error() const { return error_; }

 private:
  enum class step : std::uint8_t { header, tuples, done };
  enum class scan_status : std::uint8_t { complete, incomplete, bad };
  struct unit {
    scan_status status = scan_status::incomplete;
    std::size_t size = 0;   // complete: bytes of the header, tuple or trailer
    std::size_t need = 0;   // incomplete: at least this many bytes in all
    std::size_t bound = 0;  // complete tuple: room its CSV line needs
  };

  unit scan(const unsigned char* p, std::size_t n);
  unit scan_header(const unsigned char* p, std::size_t n);
  unit scan_tuple(const unsigned char* p, std::size_t n);
  bool consume(const unsigned char* p, const unit& u, byte_buffer& out);
  bool write_tuple(const unsigned char* p, std::size_t bound, byte_buffer& out);
  bool fail(std::string message);

  std::vector<pg_binary_type> types_;
  step step_ = step::header;
  std::string carry_;  // the start of a unit the next piece completes
  std::int64_t rows_ = 0;
  std::string error_;
};

}  // namespace uringmig::codecs
