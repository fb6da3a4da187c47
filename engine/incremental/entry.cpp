#include "engine/incremental/entry.hpp"

#include "codecs/sql_text.hpp"
#include "engine/core/config_keys.hpp"

#include <fmt/format.h>

namespace uringmig::engine::incremental {

namespace {

/// The entry number and key of "tables[N].key"; nullopt for other settings.
std::optional<std::pair<int, std::string>> entry_key(std::string_view flat) {
  constexpr std::string_view prefix = "tables[";
  if (flat.substr(0, prefix.size()) != prefix) return std::nullopt;
  const auto close = flat.find("].", prefix.size());
  if (close == std::string_view::npos) return std::nullopt;
  int n = 0;
  for (const char c : flat.substr(prefix.size(), close - prefix.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return std::make_pair(n, std::string(flat.substr(close + 2)));
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

table_name name_of(const table_entry& e, const std::map<std::string, std::string>& kv,
                   const char* key) {
  const auto it = kv.find(key);
  if (it == kv.end() || it->second.empty())
    throw usage_error(
        fmt::format("{}: '{}' is missing (write {} = \"schema.table\")", e.label(), key, key));
  auto name = parse_table_name(it->second);
  if (!name)
    throw usage_error(
        fmt::format("{}: {} = '{}' is not a table name (schema.table; quote parts "
                    "with spaces or dots: \"My Schema\".\"My Table\")",
                    e.label(), key, codecs::printable(it->second)));
  return *name;
}

table_entry make_entry(int index, const std::map<std::string, std::string>& kv) {
  table_entry e;
  e.index = index;
  const auto get = [&](const char* key) {
    const auto it = kv.find(key);
    return it == kv.end() ? std::string(find_config_key(entry_section, key)->default_value)
                          : it->second;
  };
  e.source = name_of(e, kv, "source");
  e.target = kv.count("target") ? name_of(e, kv, "target") : e.source;
  e.filter = get("filter");
  e.key = split_list(get("key"));
  e.watermark = get("watermark");
  e.target_watermark = get("target_watermark");
  e.lookback = get("lookback");
  e.chunk_by = get("chunk_by");
  e.mode = get("mode") == "full" ? load_mode::full : load_mode::incremental;
  e.disable_indexes = get("disable_indexes") == "true" || get("disable_indexes") == "1";
  e.deletes = get("deletes") == "reconcile" ? delete_mode::reconcile : delete_mode::none;
  e.on_error = get("on_error") == "reject" ? error_mode::reject : error_mode::fail;
  if (e.key.empty())
    throw usage_error(fmt::format(
        "{}: 'key' is missing (the columns that identify a row: key = [\"id\"])", e.label()));
  if (e.watermark.empty() && e.mode == load_mode::incremental)
    throw usage_error(
        fmt::format("{}: an incremental load needs a 'watermark' column (or write "
                    "mode = \"full\")",
                    e.label()));
  if (!e.target_watermark.empty() && e.watermark.empty())
    throw usage_error(fmt::format("{}: 'target_watermark' without 'watermark'", e.label()));
  return e;
}

}  // namespace

std::string table_name::schema_or(std::string_view dflt) const {
  return parts.size() >= 2 ? parts[parts.size() - 2] : std::string(dflt);
}

std::optional<table_name> parse_table_name(std::string_view text) {
  table_name out;
  out.written = std::string(text);
  std::string part;
  bool quoted_part = false;
  std::size_t i = 0;
  while (i <= text.size()) {
    if (i == text.size() || text[i] == '.') {
      if (part.empty() && !quoted_part) return std::nullopt;
      out.parts.push_back(std::move(part));
      part.clear();
      quoted_part = false;
      ++i;
      if (i > text.size()) break;
      continue;
    }
    if (text[i] == '"' && part.empty() && !quoted_part) {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            part += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        part += text[i++];
      }
      if (!closed || part.empty()) return std::nullopt;
      quoted_part = true;
      if (i < text.size() && text[i] != '.') return std::nullopt;
      continue;
    }
    if (quoted_part) return std::nullopt;
    part += text[i++];
  }
  if (out.parts.empty() || out.parts.size() > 3) return std::nullopt;
  return out;
}

std::string table_entry::label() const {
  return fmt::format("[[tables]] #{} ({})", index + 1, codecs::printable(source.written));
}

std::vector<table_entry> read_entries(const std::map<std::string, std::string>& settings) {
  std::map<int, std::map<std::string, std::string>> by_index;
  for (const auto& [name, value] : settings) {
    if (const auto k = entry_key(name)) by_index[k->first][k->second] = value;
  }
  std::vector<table_entry> out;
  for (const auto& [index, kv] : by_index)
    out.push_back(make_entry(index, kv));
  return out;
}

std::vector<table_entry> pick_entries(std::vector<table_entry> all,
                                      const std::vector<std::string>& patterns) {
  if (patterns.empty()) return all;
  std::vector<table_entry> out;
  for (auto& e : all) {
    bool hit = false;
    for (const auto& p : patterns)
      hit =
          hit || codecs::glob_match(p, e.target.written) || codecs::glob_match(p, e.source.written);
    if (hit) out.push_back(std::move(e));
  }
  if (out.empty())
    throw usage_error(
        "--tables: no [[tables]] entry matches (patterns are globs over the "
        "entries' target and source names as written)");
  return out;
}

bool has_entries(const std::map<std::string, std::string>& settings) {
  for (const auto& kv : settings)
    if (entry_key(kv.first)) return true;
  return false;
}

}  // namespace uringmig::engine::incremental
