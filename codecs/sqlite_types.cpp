#include "codecs/sqlite_types.hpp"

#include "codecs/copy_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace uringmig::codecs {

sqlite_affinity sqlite_affinity_of(std::string_view t) {
  if (t.size() > 2 && t.substr(t.size() - 2) == "[]") return sqlite_affinity::text;
  if (t == "smallint" || t == "integer" || t == "bigint" || t == "oid" || t == "int2" ||
      t == "int4" || t == "int8")
    return sqlite_affinity::integer;
  if (t == "real" || t == "double precision" || t == "float4" || t == "float8")
    return sqlite_affinity::real;
  if (t == "bytea") return sqlite_affinity::blob;
  return sqlite_affinity::text;
}

std::string_view declared_type(sqlite_affinity a) {
  switch (a) {
    case sqlite_affinity::integer:
      return "INTEGER";
    case sqlite_affinity::real:
      return "REAL";
    case sqlite_affinity::blob:
      return "BLOB";
    case sqlite_affinity::text:
      break;
  }
  return "TEXT";
}

void append_pg_value(row_batch_writer& out, sqlite_affinity a, std::string_view text) {
  switch (a) {
    case sqlite_affinity::integer: {
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec == std::errc() && end == text.data() + text.size()) {
        out.integer(v);
        return;
      }
      break;
    }
    case sqlite_affinity::real: {
      if (text == "Infinity") {
        out.real(std::numeric_limits<double>::infinity());
        return;
      }
      if (text == "-Infinity") {
        out.real(-std::numeric_limits<double>::infinity());
        return;
      }
      double v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec == std::errc() && end == text.data() + text.size() && !std::isnan(v)) {
        out.real(v);
        return;
      }
      break;
    }
    case sqlite_affinity::blob:
      if (auto b = decode_bytea_hex(text)) {
        out.blob(*b);
        return;
      }
      break;
    case sqlite_affinity::text:
      break;
  }
  out.text(text);
}

void append_pg_row(row_batch_writer& out, const std::vector<sqlite_affinity>& a,
                   const std::vector<std::optional<std::string_view>>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i])
      append_pg_value(out, a[i], *fields[i]);
    else
      out.null();
  }
}

}  // namespace uringmig::codecs
