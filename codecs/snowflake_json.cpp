#include "codecs/snowflake_json.hpp"

#include "codecs/copy_text.hpp"
#include "codecs/json_text.hpp"
#include "codecs/sql_text.hpp"

#include <algorithm>
#include <charconv>

namespace uringmig::codecs::snowflake {

namespace {

constexpr std::size_t min_retry = 4096;

bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

void skip_ws(std::string_view b, std::size_t& i) {
  while (i < b.size() && is_ws(b[i]))
    ++i;
}

std::optional<std::int64_t> number_of(const json::value* v) {
  if (v == nullptr || (v->kind != json::kind::number && v->kind != json::kind::string))
    return std::nullopt;
  std::int64_t out = 0;
  const auto [p, ec] = std::from_chars(v->text.data(), v->text.data() + v->text.size(), out);
  if (ec != std::errc{} || p != v->text.data() + v->text.size()) return std::nullopt;
  return out;
}

std::string text_of(const json::value* v) {
  return v != nullptr && v->kind != json::kind::null ? v->text : std::string();
}

/// The end of one JSON value that is not a string at `i` (an object, array, number or literal),
/// counting brackets and skipping strings; npos when `b` ends first. Validity is checked later
/// by the JSON reader.
std::size_t value_end(std::string_view b, std::size_t i, bool at_end) {
  int depth = 0;
  bool in_string = false;
  for (; i < b.size(); ++i) {
    const char c = b[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return i;  // the enclosing object's end: a scalar ended before it
      if (--depth == 0) return i + 1;
    } else if (depth == 0 && (c == ',' || is_ws(c))) {
      return i;
    }
  }
  return at_end && depth == 0 && !in_string ? b.size() : std::string_view::npos;
}

}  // namespace

std::optional<std::vector<column>> parse_row_type(std::string_view json_array, std::string& error) {
  const auto items = json::read_array(json_array);
  if (!items) {
    error = "rowType is not a JSON array";
    return std::nullopt;
  }
  std::vector<column> out;
  for (const json::value& item : *items) {
    const auto o = json::read_object(item.text);
    if (item.kind != json::kind::object || !o) {
      error = "rowType entry " + std::to_string(out.size() + 1) + " is not an object";
      return std::nullopt;
    }
    const json::value* name = o.value->find("name");
    const json::value* type = o.value->find("type");
    if (name == nullptr || name->kind != json::kind::string || type == nullptr ||
        type->kind != json::kind::string) {
      error = "rowType entry " + std::to_string(out.size() + 1) + " has no name or type";
      return std::nullopt;
    }
    column c;
    c.name = name->text;
    c.type = parse_type(type->text);
    for (char ch : type->text)
      c.type_name.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch);
    c.length = number_of(o.value->find("length"));
    c.precision = number_of(o.value->find("precision"));
    c.scale = number_of(o.value->find("scale"));
    const json::value* nullable = o.value->find("nullable");
    c.nullable = nullable == nullptr || nullable->text != "false";
    out.push_back(std::move(c));
  }
  return out;
}

bool read_result_set_meta(const json::object& rsmd, result_meta& meta, std::string& error) {
  meta.format = text_of(rsmd.find("format"));
  if (!meta.format.empty() && meta.format != "jsonv2") {
    error = "result format '" + printable(meta.format) + "' (expected jsonv2)";
    return false;
  }
  meta.num_rows = number_of(rsmd.find("numRows"));
  if (const json::value* rt = rsmd.find("rowType"); rt != nullptr) {
    auto cols = parse_row_type(rt->text, error);
    if (!cols) return false;
    meta.columns = std::move(*cols);
    meta.has_row_type = true;
  }
  if (const json::value* pi = rsmd.find("partitionInfo");
      pi != nullptr && pi->kind != json::kind::null) {
    const auto items = json::read_array(pi->text);
    if (!items) {
      error = "partitionInfo is not a JSON array";
      return false;
    }
    meta.partitions.clear();
    for (const json::value& item : *items) {
      const auto o = json::read_object(item.text);
      if (!o) {
        error = "a partitionInfo entry is not an object";
        return false;
      }
      partition_info p;
      p.row_count = number_of(o.value->find("rowCount")).value_or(0);
      p.uncompressed_size = number_of(o.value->find("uncompressedSize"));
      p.compressed_size = number_of(o.value->find("compressedSize"));
      meta.partitions.push_back(p);
    }
  }
  return true;
}

jsonv2_decoder::jsonv2_decoder(std::vector<column> columns)
    : columns_(std::move(columns)), columns_given_(true) {}

void jsonv2_decoder::watch(std::string name) {
  watched_name_ = std::move(name);
  resolve_watch();
}

void jsonv2_decoder::resolve_watch() {
  watched_ = static_cast<std::size_t>(-1);
  for (std::size_t i = 0; i < columns_.size(); ++i)
    if (columns_[i].name == watched_name_) watched_ = i;
}

jsonv2_decoder::step jsonv2_decoder::fail(std::size_t at, const std::string& what) {
  error_ = "jsonv2 result: " + what + " at byte " + std::to_string(base_ + at);
  return step::fail;
}

bool jsonv2_decoder::absorb_members() {
  if (members_.empty()) return true;
  members_.back() = '}';  // the trailing ','
  const json::object_result o = json::read_object(members_);
  members_.clear();
  if (!o) {
    error_ = "jsonv2 result: malformed member: " + o.error;
    return false;
  }
  for (const auto& [key, v] : o.value->members) {
    if (key == "statementHandle") meta_.statement_handle = text_of(&v);
    if (key == "code") meta_.code = text_of(&v);
    if (key == "sqlState") meta_.sql_state = text_of(&v);
    if (key == "message") meta_.message = text_of(&v);
    if (key == "resultSetMetaData" && v.kind == json::kind::object) {
      const auto rsmd = json::read_object(v.text);
      std::string why;
      if (!rsmd || !read_result_set_meta(*rsmd.value, meta_, why)) {
        error_ = "jsonv2 result: resultSetMetaData: " + (rsmd ? why : rsmd.error);
        return false;
      }
      if (!columns_given_ && meta_.has_row_type) {
        columns_ = meta_.columns;
        resolve_watch();
      }
    }
  }
  return true;
}

jsonv2_decoder::step jsonv2_decoder::member_value(std::string_view b, std::size_t& i, bool at_end) {
  if (key_ == "data") {
    if (!absorb_members()) return step::fail;
    if (b.substr(i, 4) == "null") {
      i += 4;
      state_ = state::after_member;
      return step::more;
    }
    if (b.size() - i < 4 && std::string_view("null").substr(0, b.size() - i) == b.substr(i))
      return step::need;
    if (b[i] != '[') return fail(i, "data is not an array");
    if (!columns_given_ && !meta_.has_row_type)
      return fail(i, "data before resultSetMetaData.rowType");
    ++i;
    first_ = true;
    state_ = state::data;
    return step::more;
  }
  std::size_t end = 0;
  if (b[i] == '"') {
    std::string ignored;
    const json::string_read r = json::read_string(b.substr(i), ignored);
    if (r.incomplete) return step::need;
    if (!r.error.empty()) return fail(i + r.error_at, r.error);
    end = i + r.end;
  } else {
    end = value_end(b, i, at_end);
    if (end == std::string_view::npos) return step::need;
    if (end == i) return fail(i, "expected a value");
  }
  if (members_.empty()) members_ = "{";
  append_json_string(members_, key_);
  members_ += ':';
  members_.append(b.substr(i, end - i));
  members_ += ',';
  i = end;
  state_ = state::after_member;
  return step::more;
}

jsonv2_decoder::step jsonv2_decoder::read_row(std::string_view b, std::size_t& i,
                                              std::string& out) {
  const std::size_t mark = out.size();
  std::size_t p = i + 1;  // past '['
  std::size_t col = 0;
  std::int64_t row_nulls = 0;
  std::optional<epoch_time> row_instant;  // the watched column's, committed with the row
  auto need = [&] {
    out.resize(mark);
    return step::need;
  };
  auto bad = [&](std::size_t at, const std::string& what) {
    out.resize(mark);
    return fail(at, "row " + std::to_string(rows_ + 1) + ": " + what);
  };
  skip_ws(b, p);
  if (p >= b.size()) return need();
  if (b[p] == ']') {
    if (!columns_.empty()) return bad(p, "an empty row");
    ++p;
  } else {
    for (;;) {
      skip_ws(b, p);
      if (p >= b.size()) return need();
      if (col >= columns_.size())
        return bad(p, "more values than the " + std::to_string(columns_.size()) + " columns");
      if (col > 0) out.push_back('\t');
      if (b[p] == 'n') {
        if (b.size() - p < 4) return need();
        if (b.substr(p, 4) != "null") return bad(p, "expected a string or null");
        out.append(copy_text_null);
        p += 4;
        if (col == watched_) ++row_nulls;
      } else if (b[p] == '"') {
        // Most values have no escape: a view of the input. Else unescaped into scratch_.
        std::size_t q = p + 1;
        while (q < b.size() && b[q] != '"' && b[q] != '\\' &&
               static_cast<unsigned char>(b[q]) >= 0x20)
          ++q;
        std::string_view value;
        if (q < b.size() && b[q] == '"') {
          value = b.substr(p + 1, q - p - 1);
          p = q + 1;
        } else {
          scratch_.clear();
          const json::string_read r = json::read_string(b.substr(p), scratch_);
          if (r.incomplete) return need();
          if (!r.error.empty()) return bad(p + r.error_at, r.error);
          value = scratch_;
          p += r.end;
        }
        std::string why;
        if (!append_copy_value(out, columns_[col], value, why))
          return bad(p, "column \"" + printable(columns_[col].name) + "\" (" +
                            columns_[col].type_name + "): " + why);
        if (col == watched_) row_instant = instant_of(columns_[col], value);
      } else {
        return bad(p, "expected a string or null");
      }
      ++col;
      skip_ws(b, p);
      if (p >= b.size()) return need();
      if (b[p] == ']') {
        ++p;
        break;
      }
      if (b[p] != ',') return bad(p, "expected ',' or ']'");
      ++p;
    }
  }
  if (col != columns_.size())
    return bad(p,
               std::to_string(col) + " values for " + std::to_string(columns_.size()) + " columns");
  out.push_back('\n');
  ++rows_;
  watched_nulls_ += row_nulls;
  if (row_instant && (!watched_max_ || *watched_max_ < *row_instant)) watched_max_ = row_instant;
  i = p;
  state_ = state::after_row;
  return step::more;
}

jsonv2_decoder::step jsonv2_decoder::advance(std::string_view b, std::size_t& i, bool at_end,
                                             std::string& out) {
  skip_ws(b, i);
  if (state_ == state::done) return i < b.size() ? fail(i, "text after the object") : step::need;
  if (i >= b.size()) return step::need;
  const char c = b[i];
  switch (state_) {
    case state::start:
      if (c != '{') return fail(i, "expected '{'");
      ++i;
      first_ = true;
      state_ = state::member;
      return step::more;
    case state::member: {
      if (c == '}' && first_) {
        ++i;
        state_ = state::done;
        return absorb_members() ? step::more : step::fail;
      }
      if (c != '"') return fail(i, "expected a member name");
      key_.clear();
      const json::string_read r = json::read_string(b.substr(i), key_);
      if (r.incomplete) return step::need;
      if (!r.error.empty()) return fail(i + r.error_at, r.error);
      i += r.end;
      state_ = state::colon;
      return step::more;
    }
    case state::colon:
      if (c != ':') return fail(i, "expected ':'");
      ++i;
      state_ = state::value;
      return step::more;
    case state::value:
      return member_value(b, i, at_end);
    case state::data:
    case state::after_row:
      if (c == ']' && (state_ == state::after_row || first_)) {
        ++i;
        state_ = state::after_member;
        return step::more;
      }
      if (state_ == state::after_row) {
        if (c != ',') return fail(i, "expected ',' or ']' after a row");
        ++i;
        state_ = state::row;
        return step::more;
      }
      [[fallthrough]];
    case state::row:
      if (c != '[') return fail(i, "expected a row (an array)");
      first_ = false;
      return read_row(b, i, out);
    case state::after_member:
      if (c == ',') {
        ++i;
        first_ = false;
        state_ = state::member;
        return step::more;
      }
      if (c != '}') return fail(i, "expected ',' or '}'");
      ++i;
      state_ = state::done;
      return absorb_members() ? step::more : step::fail;
    case state::done:
      break;
  }
  return step::need;
}

bool jsonv2_decoder::run(std::string_view buf, std::size_t& pos, bool at_end, std::string& out) {
  for (;;) {
    const step s = advance(buf, pos, at_end, out);
    if (s == step::fail) return false;
    if (s == step::need) return true;
  }
}

bool jsonv2_decoder::feed(std::string_view piece, std::string& out) {
  if (!error_.empty()) return false;
  if (!pending_.empty()) {
    pending_.append(piece);
    // A unit (a row, a member) bigger than what came so far: parse it again only once the
    // carried bytes doubled, so a huge value split into small pieces costs linear time.
    if (pending_.size() < retry_at_) return true;
    std::size_t pos = 0;
    base_ = consumed_;
    if (!run(pending_, pos, false, out)) return false;
    consumed_ += pos;
    pending_.erase(0, pos);
  } else {
    std::size_t pos = 0;
    base_ = consumed_;
    if (!run(piece, pos, false, out)) return false;
    consumed_ += pos;
    pending_.assign(piece.substr(pos));
  }
  retry_at_ = std::max(pending_.size() * 2, min_retry);
  return true;
}

bool jsonv2_decoder::finish(std::string& out) {
  if (!error_.empty()) return false;
  std::size_t pos = 0;
  base_ = consumed_;
  if (!run(pending_, pos, true, out)) return false;
  consumed_ += pos;
  pending_.erase(0, pos);
  if (state_ != state::done) {
    error_ = "jsonv2 result: the body ended early, at byte " + std::to_string(consumed_);
    return false;
  }
  return true;
}

decoded_result decode_jsonv2(std::string_view body, const std::vector<column>* columns) {
  decoded_result r;
  jsonv2_decoder d = columns != nullptr ? jsonv2_decoder(*columns) : jsonv2_decoder();
  if (!d.feed(body, r.copy_text) || !d.finish(r.copy_text)) {
    r.error = d.error();
    r.copy_text.clear();
  }
  r.meta = d.meta();
  r.rows = d.rows();
  return r;
}

std::vector<std::string> pg_column_ddl(const std::vector<column>& columns) {
  std::vector<std::string> out;
  out.reserve(columns.size());
  for (const column& c : columns)
    out.push_back(quote_ident(c.name) + " " + pg_type(c));
  return out;
}

}  // namespace uringmig::codecs::snowflake
