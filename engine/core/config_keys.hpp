#pragma once

// Every key a config file may hold: one table (section, key, type, default, help) that the
// config reader checks against, the engine takes its defaults and bounds from, and the README's
// table of keys is made from (config_keys_markdown). Keys outside it are a usage error.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace uringmig::engine {

enum class key_type {
  text,         // any string
  path,         // a file or directory
  url,          // an endpoint URL
  boolean,      // true / false
  integer,      // within [lo, hi]
  number,       // a decimal number within [lo, hi]
  size,         // "256MB", "1GiB", "65536"
  interval,     // "500ms", "1s", "2m"; 0: off
  duration,     // "90s", "1h30m", or seconds as a number
  server_size,  // a PostgreSQL memory setting, judged by the server ("1GB")
  server_time,  // a PostgreSQL time setting, judged by the server ("1min")
  list,         // an array of strings (or one string)
  choice,       // one of `choices`
};

/// The section of the per-table keys, as the README writes it.
inline constexpr std::string_view per_table_section = "tables.\"SCHEMA.TABLE\"";
/// The section of the `[[tables]]` entries of an incremental job (flattened "tables[N].key").
inline constexpr std::string_view entry_section = "[tables]";
/// A key name that stands for any name (a schema in `[filters.exclude_regex]`).
inline constexpr std::string_view any_name = "SCHEMA";

struct config_key {
  std::string_view section;  // "" for the top level, "copy", "doris.debug", per_table_section
  std::string_view name;     // any_name: every name is this key
  key_type type = key_type::text;
  std::string_view default_value;  // as a user would write it; "" when unset by default
  std::string_view help;           // one line
  std::int64_t lo = 0;             // integer / number bounds
  std::int64_t hi = 0;
  std::string_view choices = {};  // choice: "key|ctid"
  std::string_view aliases = {};  // choice: also accepted, not shown ("gzip")
};

/// Every key, top level first, then the sections in README order. Lives for the program.
std::span<const config_key> config_keys();

/// "integer 0..1000", "boolean", "key | ctid": how the README names a key's type.
std::string type_text(const config_key& key);

/// "copy.chunk_size"; "jobs" at the top level; `tables."SCHEMA.TABLE".where` per table;
/// `[[tables]].key` for an entry's key.
std::string full_name(const config_key& key);

/// True for "copy", "doris.debug", "filters.exclude_regex", per_table_section.
bool is_config_section(std::string_view section);

/// The key `name` of `section`; nullptr when there is none.
const config_key* find_config_key(std::string_view section, std::string_view name);

/// The registered key of a flattened setting name ("copy.retries",
/// "tables.public.orders.where", "filters.exclude_regex.public"); nullptr when unknown.
const config_key* find_setting(std::string_view flat_name);

/// Levenshtein distance (insert, delete, replace: 1 each).
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate nearest to `word`, when it is near enough to be a typo of it (at most a third
/// of the longer name, at least 2 edits away); empty otherwise.
std::string_view nearest_name(std::string_view word, std::span<const std::string_view> candidates);

/// "unknown key 'chunk_sise' in [copy] (did you mean 'chunk_size'?)"; without a near key, the
/// section's keys are listed.
std::string unknown_key_message(std::string_view section, std::string_view name);

/// "unknown section [cpy] (did you mean [copy]?)".
std::string unknown_section_message(std::string_view section);

/// Checks the text form of a setting's value (arrays joined with ',') against `key`'s type:
/// nullopt when it fits, else "copy.retries = 'x': expected an integer from 0 to 1000".
std::optional<std::string> check_value(const config_key& key, std::string_view flat_name,
                                       std::string_view value);

/// Every setting must be registered and fit its type; throws usage_error naming the first that
/// does not (and the nearest valid key).
void check_settings(const std::map<std::string, std::string>& settings);

/// The value of a registered setting, its default when unset. `flat_name` must be registered.
std::string setting_or_default(const std::map<std::string, std::string>& settings,
                               std::string_view flat_name);

/// An integer setting within its registered bounds, its default when unset; usage_error else
/// (also when unset without a default: ask only for keys that have one or are set).
std::int64_t integer_setting(const std::map<std::string, std::string>& settings,
                             std::string_view flat_name);

/// A boolean setting, its default when unset; usage_error for anything but true/false/1/0.
bool boolean_setting(const std::map<std::string, std::string>& settings,
                     std::string_view flat_name);

/// A setting whose value is a secret (a token): shown as `secret_shown`, never as it is.
bool is_secret_setting(std::string_view flat_name);
inline constexpr std::string_view secret_shown = "(set, not shown)";

/// What `plan` prints of the settings a job sets: one line per setting,
/// "setting copy.chunk_size = 64MB (default 1GB)\n"; empty when none is set.
std::string settings_summary(const std::map<std::string, std::string>& settings);

/// The README's table of keys (Markdown), one row per key, in config_keys() order.
std::string config_keys_markdown();

}  // namespace uringmig::engine
