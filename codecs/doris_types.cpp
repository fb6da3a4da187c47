#include "codecs/doris_types.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace uringmig::codecs {

namespace {

constexpr int max_decimal_precision = 38;
constexpr long max_varchar_bytes = 65533;

// A format_type() text split into its name without the type modifier and the modifier's numbers:
// "timestamp(3) with time zone" -> "timestamp with time zone", {3}.
struct type_text {
  std::string name;
  std::vector<long> args;
  bool args_ok = true;
};

type_text split_type(std::string_view t) {
  type_text out;
  const std::size_t open = t.find('(');
  const std::size_t close = open == std::string_view::npos ? open : t.find(')', open);
  if (close == std::string_view::npos) {
    out.name = std::string(t);
    return out;
  }
  out.name = std::string(t.substr(0, open)) + std::string(t.substr(close + 1));
  std::string_view args = t.substr(open + 1, close - open - 1);
  while (true) {
    const std::size_t comma = args.find(',');
    std::string_view a = args.substr(0, comma);
    while (!a.empty() && a.front() == ' ')
      a.remove_prefix(1);
    long v = 0;
    const auto [end, ec] = std::from_chars(a.data(), a.data() + a.size(), v);
    if (ec != std::errc() || end != a.data() + a.size()) out.args_ok = false;
    out.args.push_back(v);
    if (comma == std::string_view::npos) break;
    args.remove_prefix(comma + 1);
  }
  return out;
}

doris_type string_type(std::string_view note) {
  return {"STRING", doris_value_kind::text, true, note};
}

doris_type varchar_bytes(long chars, std::string_view note_if_string) {
  if (chars > 0 && chars <= max_varchar_bytes / 4)
    return {fmt::format("VARCHAR({})", chars * 4), doris_value_kind::text, true, {}};
  return string_type(note_if_string);
}

doris_type decimal_type(const type_text& t) {
  if (t.args.empty() || !t.args_ok)
    return {fmt::format("DECIMAL({},9)", max_decimal_precision), doris_value_kind::number, true,
            "numeric without precision: values past 29 integer or 9 fraction digits do not fit"};
  long p = t.args[0];
  long s = t.args.size() > 1 ? t.args[1] : 0;
  if (s < 0) {  // numeric(5,-2): multiples of 100 with up to 7 digits
    p -= s;
    s = 0;
  }
  p = std::max(p, s);
  if (p > max_decimal_precision)
    return {"STRING", doris_value_kind::number, true,
            "numeric precision above 38 does not fit DECIMAL: kept as its exact text"};
  return {fmt::format("DECIMAL({},{})", p, s), doris_value_kind::number, true, {}};
}

doris_type datetime_type(const type_text& t, doris_value_kind kind, std::string_view note) {
  long p = t.args.empty() || !t.args_ok ? 6 : t.args[0];
  p = std::clamp(p, 0L, 6L);
  return {fmt::format("DATETIME({})", p), kind, true, note};
}

constexpr std::string_view date_note =
    "Doris keeps years 0000-9999: BC dates and infinity do not fit";

}  // namespace

doris_type doris_type_of(std::string_view pg_type) {
  if (pg_type.size() > 2 && pg_type.substr(pg_type.size() - 2) == "[]")
    return string_type("array: PostgreSQL's array text");
  const type_text t = split_type(pg_type);
  const std::string_view n = t.name;
  if (n == "smallint" || n == "int2") return {"SMALLINT", doris_value_kind::integer, true, {}};
  if (n == "integer" || n == "int" || n == "int4")
    return {"INT", doris_value_kind::integer, true, {}};
  if (n == "bigint" || n == "int8" || n == "oid")
    return {"BIGINT", doris_value_kind::integer, true, {}};
  if (n == "real" || n == "float4") return {"FLOAT", doris_value_kind::number, false, {}};
  if (n == "double precision" || n == "float8")
    return {"DOUBLE", doris_value_kind::number, false, {}};
  if (n == "numeric" || n == "decimal") return decimal_type(t);
  if (n == "boolean" || n == "bool") return {"BOOLEAN", doris_value_kind::boolean, true, {}};
  if (n == "text") return string_type({});
  if (n == "character varying" || n == "varchar" || n == "character" || n == "char" ||
      n == "bpchar") {
    if (t.args.empty() || !t.args_ok) return string_type({});
    return varchar_bytes(t.args[0], "longer than VARCHAR's 65533 bytes: STRING");
  }
  if (n == "date") return {"DATE", doris_value_kind::text, true, date_note};
  if (n == "timestamp" || n == "timestamp without time zone")
    return datetime_type(t, doris_value_kind::text, date_note);
  if (n == "timestamp with time zone" || n == "timestamptz")
    return datetime_type(t, doris_value_kind::timestamptz,
                         "timestamptz: stored as UTC; years outside 0000-9999 do not fit");
  if (n == "json" || n == "jsonb") return {"JSON", doris_value_kind::json, false, {}};
  if (n == "uuid") return {"VARCHAR(36)", doris_value_kind::text, true, {}};
  if (n == "bytea")
    return {"STRING", doris_value_kind::bytea, true, "bytea: lowercase hex text, unhex() to read"};
  return string_type("stored as PostgreSQL's text form");
}

std::string quote_doris_ident(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out.push_back('`');
  for (char c : name) {
    if (c == '`') out.push_back('`');
    out.push_back(c);
  }
  out.push_back('`');
  return out;
}

doris_table_layout doris_layout_of(const doris_table_spec& t) {
  doris_table_layout l;
  for (const doris_source_column& c : t.columns)
    l.types.push_back(doris_type_of(c.pg_type));

  std::vector<std::size_t> pk;
  for (const std::string& name : t.primary_key) {
    auto it = std::find_if(t.columns.begin(), t.columns.end(),
                           [&](const doris_source_column& c) { return c.name == name; });
    if (it == t.columns.end())
      throw std::invalid_argument(
          fmt::format("primary key column {} is not a column of {}", name, t.table));
    pk.push_back(static_cast<std::size_t>(it - t.columns.begin()));
  }
  const auto bad_key =
      std::find_if(pk.begin(), pk.end(), [&](std::size_t i) { return !l.types[i].key_allowed; });
  if (!pk.empty() && bad_key == pk.end()) {
    l.unique = true;
    l.key = pk;
  } else {
    if (bad_key != pk.end())
      l.notes.push_back(fmt::format(
          "primary key column {} ({}) cannot be a Doris key: DUPLICATE KEY model, rows are "
          "not deduplicated",
          quote_doris_ident(t.columns[*bad_key].name), t.columns[*bad_key].pg_type));
    // Doris needs a key-capable first column: the first one that can be a key leads.
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
      if (l.types[i].key_allowed) {
        l.key.push_back(i);
        break;
      }
    }
    if (l.key.empty() && !t.columns.empty())
      l.notes.push_back(
          "no column can be a Doris key (FLOAT, DOUBLE and JSON cannot): "
          "add one before creating the table");
  }
  for (std::size_t i : l.key) {
    if (l.types[i].sql == "STRING") l.types[i].sql = fmt::format("VARCHAR({})", max_varchar_bytes);
  }

  l.order = l.key;
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    if (std::find(l.key.begin(), l.key.end(), i) == l.key.end()) l.order.push_back(i);
  }
  if (!std::is_sorted(l.order.begin(), l.order.end()))
    l.notes.push_back(
        "key columns lead the Doris table; loads name their columns, so the order is safe");
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    if (!l.types[i].note.empty())
      l.notes.push_back(fmt::format("{} {}: {}", quote_doris_ident(t.columns[i].name),
                                    t.columns[i].pg_type, l.types[i].note));
  }
  return l;
}

std::string render_create_table(const doris_table_spec& t) {
  const doris_table_layout l = doris_layout_of(t);
  std::string out;
  for (const std::string& note : l.notes)
    fmt::format_to(std::back_inserter(out), "-- {}\n", note);
  fmt::format_to(std::back_inserter(out), "CREATE TABLE IF NOT EXISTS {}.{} (\n",
                 quote_doris_ident(t.database), quote_doris_ident(t.table));
  for (std::size_t n = 0; n < l.order.size(); ++n) {
    const std::size_t i = l.order[n];
    const bool is_key = std::find(l.key.begin(), l.key.end(), i) != l.key.end();
    const bool not_null = t.columns[i].not_null || (l.unique && is_key);
    fmt::format_to(std::back_inserter(out), "  {} {} {}{}\n", quote_doris_ident(t.columns[i].name),
                   l.types[i].sql, not_null ? "NOT NULL" : "NULL",
                   n + 1 < l.order.size() ? "," : "");
  }
  std::string key_list;
  for (std::size_t i : l.key) {
    if (!key_list.empty()) key_list += ", ";
    key_list += quote_doris_ident(t.columns[i].name);
  }
  out += ")\n";
  if (l.unique) {
    fmt::format_to(std::back_inserter(out),
                   "UNIQUE KEY({0})\nDISTRIBUTED BY HASH({0}) BUCKETS AUTO\nPROPERTIES (\n"
                   "  \"replication_num\" = \"1\",\n"
                   "  \"enable_unique_key_merge_on_write\" = \"true\"\n);\n",
                   key_list);
  } else {
    if (!key_list.empty()) fmt::format_to(std::back_inserter(out), "DUPLICATE KEY({})\n", key_list);
    out += "DISTRIBUTED BY RANDOM BUCKETS AUTO\nPROPERTIES (\n  \"replication_num\" = \"1\"\n);\n";
  }
  return out;
}

std::vector<doris_column> doris_columns_of(const std::vector<doris_source_column>& columns) {
  std::vector<doris_column> out;
  out.reserve(columns.size());
  for (const doris_source_column& c : columns)
    out.push_back({c.name, doris_type_of(c.pg_type).kind});
  return out;
}

}  // namespace uringmig::codecs
