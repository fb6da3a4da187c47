#include "engine/core/settings.hpp"

#include <fmt/format.h>

#include <exception>

namespace uringmig::engine {

std::string setting(const job_options& o, const std::string& key, const std::string& dflt) {
  auto it = o.settings.find(key);
  return it == o.settings.end() ? dflt : it->second;
}

std::string table_setting(const job_options& o, std::string_view schema, std::string_view table,
                          const std::string& key) {
  return setting(o, fmt::format("tables.{}.{}.{}", schema, table, key));
}

int int_setting(const job_options& o, const std::string& key, int dflt, int lo, int hi) {
  const std::string v = setting(o, key);
  if (v.empty()) return dflt;
  try {
    std::size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used == v.size() && n >= lo && n <= hi) return static_cast<int>(n);
  } catch (const std::exception&) {
  }
  throw usage_error(fmt::format("{} = '{}': expected an integer from {} to {}", key, v, lo, hi));
}

bool bool_setting(const job_options& o, const std::string& key, bool dflt) {
  const std::string v = setting(o, key);
  if (v.empty()) return dflt;
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw usage_error(fmt::format("{} = '{}': expected true or false", key, v));
}

}  // namespace uringmig::engine
