#include "engine/incremental/sql.hpp"

#include "codecs/sql_text.hpp"

namespace uringmig::engine::incremental {

std::string literal(value_class c, const std::string& value, const std::string& type, bool cast) {
  if (c == value_class::integer || c == value_class::numeric) {
    if (value.find_first_not_of("0123456789.-+eE") == std::string::npos && !value.empty())
      return cast ? codecs::quote_literal(value) + "::" + type : value;
  }
  if (!cast) return codecs::quote_literal(value);
  return codecs::quote_literal(value) + "::" + type;
}

std::string where_of(const row_query& q, const std::string& watermark_type,
                     const std::string& chunk_type, bool cast, bool c_order) {
  std::string out;
  const auto add = [&](const std::string& cond) {
    if (!out.empty()) out += " AND ";
    out += "(" + cond + ")";
  };
  if (!q.filter.empty()) add(q.filter);
  if (q.window && !q.watermark.empty() && (q.from || q.to)) {
    const std::string wm = codecs::quote_ident(q.watermark);
    std::string range;
    if (q.from) range = wm + " >= " + literal(q.watermark_class, *q.from, watermark_type, cast);
    if (q.to) {
      if (!range.empty()) range += " AND ";
      range += wm + " <= " + literal(q.watermark_class, *q.to, watermark_type, cast);
    }
    add("(" + range + ") OR " + wm + " IS NULL");
  } else if (q.window && !q.watermark.empty()) {
    // No row had a watermark when the window was fixed: the rows without one.
    add(codecs::quote_ident(q.watermark) + " IS NULL");
  }
  if (!q.chunk_by.empty() && (q.range.lower || q.range.upper)) {
    const std::string name = codecs::quote_ident(q.chunk_by);
    const bool bytes = c_order && q.chunk_class == value_class::text;
    const std::string col = bytes ? chunk_order_expr(q.chunk_by) : name;
    std::string range;
    if (q.range.lower)
      range = col + " >= " + literal(q.chunk_class, *q.range.lower, chunk_type, cast);
    if (q.range.upper) {
      if (!range.empty()) range += " AND ";
      range += col + " < " + literal(q.chunk_class, *q.range.upper, chunk_type, cast);
    }
    if (q.range.nulls) range = "(" + range + ") OR " + name + " IS NULL";
    add(range);
  }
  return out.empty() ? "true" : out;
}

std::string chunk_order_expr(const std::string& column) {
  return "(" + codecs::quote_ident(column) + ")::text COLLATE \"C\"";
}

std::string column_list(const std::vector<std::string>& columns, const std::string& prefix) {
  std::string out;
  for (const auto& c : columns) {
    if (!out.empty()) out += ", ";
    out += prefix + codecs::quote_ident(c);
  }
  return out;
}

}  // namespace uringmig::engine::incremental
