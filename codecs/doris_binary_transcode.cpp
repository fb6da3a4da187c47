#include "codecs/doris_binary_transcode.hpp"

#include "codecs/doris_csv_scan.hpp"
#include "codecs/doris_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace uringmig::codecs {

namespace pb = pg_binary;

namespace {

constexpr unsigned char signature[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF, '\r', '\n', 0};
constexpr std::size_t signature_size = sizeof signature;
constexpr std::size_t header_fixed = signature_size + 8;  // then flags and extension length
constexpr std::uint32_t flag_oids = 1u << 16;             // COPY ... WITH OIDS (before PG 12)

// A text value by the CSV rules of doris_row_writer (room: 2 * n + 2).
char* put_csv_text(char* o, const unsigned char* p, std::size_t n) {
  if (n > 0 && doris_csv_plain_prefix(p, n) == n) {
    std::memcpy(o, p, n);
    return o + n;
  }
  *o++ = doris_csv_enclose;
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] == doris_csv_enclose || p[i] == doris_csv_escape) *o++ = doris_csv_escape;
    *o++ = static_cast<char>(p[i]);
  }
  *o++ = doris_csv_enclose;
  return o;
}

char* put_literal(char* o, std::string_view s) {
  std::memcpy(o, s.data(), s.size());
  return o + s.size();
}

std::size_t field_bound(pg_binary_type t, const unsigned char* p, std::size_t len) {
  switch (t) {
    case pg_binary_type::text:
    case pg_binary_type::json:
    case pg_binary_type::jsonb:
    case pg_binary_type::bytea:
      return 2 * len + 2;
    case pg_binary_type::numeric:
      return std::max(pb::numeric_text_bound(p, len), pb::fixed_text_max);
    default:
      return pb::fixed_text_max;
  }
}

std::string_view type_name(pg_binary_type t) {
  static constexpr std::array<std::string_view, 16> names = {
      "int2", "int4",  "int8",    "oid",  "float4",    "float8",      "numeric", "text",
      "json", "jsonb", "boolean", "date", "timestamp", "timestamptz", "uuid",    "bytea"};
  return names[static_cast<std::size_t>(t)];
}

// One value (not NULL) at `o`; nullptr when `p`/`len` is not a send form of `t`.
char* put_value(char* o, pg_binary_type t, const unsigned char* p, std::size_t len) {
  switch (t) {
    case pg_binary_type::int2:
      return len == 2 ? pb::put_int(o, static_cast<std::int16_t>(pb::be16(p))) : nullptr;
    case pg_binary_type::int4:
      return len == 4 ? pb::put_int(o, static_cast<std::int32_t>(pb::be32(p))) : nullptr;
    case pg_binary_type::int8:
      return len == 8 ? pb::put_int(o, static_cast<std::int64_t>(pb::be64(p))) : nullptr;
    case pg_binary_type::oid:
      return len == 4 ? pb::put_uint(o, pb::be32(p)) : nullptr;
    case pg_binary_type::float4:
      return len == 4 ? pb::put_float4(o, std::bit_cast<float>(pb::be32(p))) : nullptr;
    case pg_binary_type::float8:
      return len == 8 ? pb::put_float8(o, std::bit_cast<double>(pb::be64(p))) : nullptr;
    case pg_binary_type::numeric:
      return pb::put_numeric(o, p, len);
    case pg_binary_type::text:
    case pg_binary_type::json:
      return put_csv_text(o, p, len);
    case pg_binary_type::jsonb:
      return len >= 1 && p[0] == 1 ? put_csv_text(o, p + 1, len - 1) : nullptr;
    case pg_binary_type::boolean:
      if (len != 1 || p[0] > 1) return nullptr;
      return put_literal(o, p[0] != 0 ? "true" : "false");
    case pg_binary_type::date:
      return len == 4 ? pb::put_date(o, static_cast<std::int32_t>(pb::be32(p))) : nullptr;
    case pg_binary_type::timestamp:
      return len == 8 ? pb::put_timestamp(o, static_cast<std::int64_t>(pb::be64(p)), {}) : nullptr;
    case pg_binary_type::timestamptz: {
      if (len != 8) return nullptr;
      // The text path strips "+00" where a digit precedes it; BC values end in " BC".
      const auto v = static_cast<std::int64_t>(pb::be64(p));
      return pb::put_timestamp(o, v, pb::timestamp_is_bc(v) ? "+00" : "");
    }
    case pg_binary_type::uuid:
      return len == 16 ? pb::put_uuid(o, p) : nullptr;
    case pg_binary_type::bytea:
      if (len == 0) return put_literal(o, "\"\"");
      return pb::put_hex(o, p, len);
  }
  return nullptr;
}

}  // namespace

doris_binary_transcoder::doris_binary_transcoder(std::vector<pg_binary_type> types)
    : types_(std::move(types)) {}

bool doris_binary_transcoder::fail(std::string message) {
  error_ = std::move(message);
  return false;
}

doris_binary_transcoder::unit doris_binary_transcoder::scan_header(const unsigned char* p,
                                                                   std::size_t n) {
  unit u;
  if (n < header_fixed) {
    u.need = header_fixed;
    return u;
  }
  if (std::memcmp(p, signature, signature_size) != 0) {
    u.status = scan_status::bad;
    error_ = "not a COPY binary stream (no PGCOPY signature)";
    return u;
  }
  if ((pb::be32(p + signature_size) & flag_oids) != 0) {
    u.status = scan_status::bad;
    error_ = "COPY binary with OIDs is not supported";
    return u;
  }
  const std::size_t total = header_fixed + pb::be32(p + signature_size + 4);
  if (n < total) {
    u.need = total;
    return u;
  }
  u.status = scan_status::complete;
  u.size = total;
  return u;
}

doris_binary_transcoder::unit doris_binary_transcoder::scan_tuple(const unsigned char* p,
                                                                  std::size_t n) {
  unit u;
  if (n < 2) {
    u.need = 2;
    return u;
  }
  const auto count = static_cast<std::int16_t>(pb::be16(p));
  if (count == -1) {  // the trailer
    u.status = scan_status::complete;
    u.size = 2;
    return u;
  }
  if (static_cast<std::size_t>(count) != types_.size() || count < 0) {
    u.status = scan_status::bad;
    error_ = fmt::format("a tuple with {} fields, expected {}", count, types_.size());
    return u;
  }
  std::size_t at = 2;
  std::size_t bound = types_.size() + 1;  // separators and the line delimiter
  for (const pg_binary_type t : types_) {
    if (n < at + 4) {
      u.need = at + 4;
      return u;
    }
    const auto len = static_cast<std::int32_t>(pb::be32(p + at));
    at += 4;
    if (len == -1) {
      bound += 2;
      continue;
    }
    if (len < 0) {
      u.status = scan_status::bad;
      error_ = fmt::format("a field of length {}", len);
      return u;
    }
    if (n < at + static_cast<std::size_t>(len)) {
      u.need = at + static_cast<std::size_t>(len);
      return u;
    }
    bound += field_bound(t, p + at, static_cast<std::size_t>(len));
    at += static_cast<std::size_t>(len);
  }
  u.status = scan_status::complete;
  u.size = at;
  u.bound = bound;
  return u;
}

doris_binary_transcoder::unit doris_binary_transcoder::scan(const unsigned char* p, std::size_t n) {
  if (step_ == step::header) return scan_header(p, n);
  if (step_ == step::tuples) return scan_tuple(p, n);
  unit u;
  u.status = scan_status::bad;
  error_ = "data after the COPY binary trailer";
  return u;
}

bool doris_binary_transcoder::write_tuple(const unsigned char* p, std::size_t bound,
                                          byte_buffer& out) {
  char* const start = out.reserve_tail(bound);
  char* o = start;
  std::size_t at = 2;
  for (std::size_t f = 0; f < types_.size(); ++f) {
    if (f > 0) *o++ = doris_csv_separator;
    const auto len = static_cast<std::int32_t>(pb::be32(p + at));
    at += 4;
    if (len == -1) {
      *o++ = '\\';
      *o++ = 'N';
      continue;
    }
    const auto n = static_cast<std::size_t>(len);
    o = put_value(o, types_[f], p + at, n);
    if (o == nullptr)
      return fail(fmt::format("row {}, column {}: {} bytes that are not a binary {}", rows_ + 1,
                              f + 1, n, type_name(types_[f])));
    at += n;
  }
  *o++ = doris_csv_line_delimiter;
  out.advance(static_cast<std::size_t>(o - start));  // nothing is committed before this
  ++rows_;
  return true;
}

bool doris_binary_transcoder::consume(const unsigned char* p, const unit& u, byte_buffer& out) {
  if (step_ == step::header) {
    step_ = step::tuples;
    return true;
  }
  if (u.size == 2 && static_cast<std::int16_t>(pb::be16(p)) == -1) {
    step_ = step::done;
    return true;
  }
  return write_tuple(p, u.bound, out);
}

bool doris_binary_transcoder::feed(std::string_view piece, byte_buffer& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
  const std::size_t n = piece.size();
  std::size_t at = 0;
  // 1. The unit the previous pieces started: take bytes until it is complete.
  while (!carry_.empty()) {
    const auto* c = reinterpret_cast<const unsigned char*>(carry_.data());
    const unit u = scan(c, carry_.size());
    if (u.status == scan_status::bad) return false;
    if (u.status == scan_status::complete) {
      if (!consume(c, u, out)) return false;
      carry_.clear();
      break;
    }
    const std::size_t take = std::min(u.need - carry_.size(), n - at);
    if (take == 0) return true;
    carry_.append(piece.data() + at, take);
    at += take;
  }
  // 2. Units wholly inside the piece, rendered in place; a partial one is carried.
  while (at < n) {
    const unit u = scan(p + at, n - at);
    if (u.status == scan_status::bad) return false;
    if (u.status == scan_status::incomplete) {
      carry_.assign(piece.data() + at, n - at);
      return true;
    }
    if (!consume(p + at, u, out)) return false;
    at += u.size;
  }
  return true;
}

}  // namespace uringmig::codecs
