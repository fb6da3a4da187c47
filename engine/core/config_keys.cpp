#include "engine/core/config_keys.hpp"

#include "engine/core/job.hpp"
#include "engine/core/planner.hpp"
#include "engine/core/progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace uringmig::engine {

namespace {

using kt = key_type;
constexpr std::string_view top = "";
constexpr std::string_view per_table = per_table_section;
constexpr std::string_view entry = entry_section;
constexpr std::int64_t int_max = 0x7fffffff;

// One row per key. Defaults are what the engine does when the key is unset; bounds are the ones
// the engine enforces (integer_setting reads them from here).
constexpr config_key keys[] = {
    // Top level: the flags' names with '_' for '-'; a flag overrides its key.
    {top, "source", kt::url, "",
     "source URL (postgresql://, sqlite://, snowflake://); as --source"},
    {top, "target", kt::url, "", "target URL (postgresql://, sqlite://, doris://); as --target"},
    {top, "source_password_file", kt::path, "", "file whose first line is the source's password"},
    {top, "target_password_file", kt::path, "", "file whose first line is the target's password"},
    {top, "preset", kt::choice, "", "defaults to start from", 0, 0, "bulk|online|incremental"},
    {top, "tables", kt::list, "", "only tables matching these schema.table globs"},
    {top, "exclude", kt::list, "", "skip tables matching these globs"},
    {top, "jobs", kt::integer, "0", "parallel copy jobs (0: one per core, at most 4)", 0, 256},
    {top, "index_jobs", kt::integer, "0", "parallel index builds (0: automatic)", 0, 256},
    {top, "state_dir", kt::path, "uringmig-state", "where progress and logs live"},
    {top, "follow", kt::boolean, "false", "after the copy, keep the target in sync (CDC)"},
    {top, "dry_run", kt::boolean, "false", "show what would happen; change nothing"},
    {top, "restart", kt::boolean, "false", "discard saved progress and start over"},
    {top, "max_runtime", kt::duration, "", "stop cleanly after this long"},
    {top, "log_level", kt::choice, "info", "log level", 0, 0, "trace|debug|info|warn|error"},

    {"state", "url", kt::text, "",
     "keep the job's state in schema uringmig_state of this PostgreSQL database (\"target\": "
     "the target); as --state-url"},
    {"state", "job", kt::text, "",
     "the job's name in a shared state database (default: made from source, target and "
     "tables); as --job"},
    {"state", "worker", kt::text, "",
     "this worker's place among the workers of one bulk, shard, Doris or incremental job, N/M "
     "(names it in the state; needs a state url); as --worker"},
    {"state", "lease_s", kt::integer, "30",
     "a worker's lease on a chunk, renewed every third of it: a dead worker's chunk is taken "
     "again after this many seconds",
     1, 3600},
    {"state", "reconnect_s", kt::integer, "60",
     "a lost connection to the state database (--state-url) is made again for up to this many "
     "seconds, with the worker's locks, before the worker stops",
     0, 86400},

    {"copy", "chunk_size", kt::size, "1GB", "split tables larger than this"},
    {"copy", "chunk_by", kt::choice, "key", "integer key ranges when there is a key, or ctid", 0, 0,
     "key|ctid"},
    {"copy", "retries", kt::integer, "5", "attempts per chunk after a retryable error", 0, 1000},
    {"copy", "allow_inconsistent", kt::boolean, "false",
     "workers: go on under fresh snapshots when the coordinator holding the snapshot dies "
     "(else they stop); as --allow-inconsistent"},
    {"copy.debug", "exit_mid_chunk", kt::integer, "0",
     "tests: exit like kill -9 in the middle of this worker's Nth chunk", 0, 1 << 20},
    {"copy.debug", "wait_workers", kt::integer, "0",
     "tests: the coordinator starts copying once this many workers of the job are live", 0, 1024},
    {"copy.debug", "hold_first_chunk", kt::boolean, "false",
     "tests: a shard worker's first chunk, once claimed, waits for the mark debug.release in "
     "the job's state (its lease renewed meanwhile)"},
    {"copy", "lock_timeout", kt::server_time, "1min",
     "how long to wait for the source tables' ACCESS SHARE locks"},
    {"copy", "queue_file", kt::path, "", "lines schema.table|column|lo..hi: explicit chunks"},

    {"filters", "include_schemas", kt::list, "", "only these schemas"},
    {"filters", "exclude_schemas", kt::list, "", "skip these schemas"},
    {"filters", "exclude_tables", kt::list, "", "skip these schema.table names"},
    {"filters.exclude_regex", any_name, kt::list, "",
     "skip the tables of SCHEMA whose names match these regexes"},

    {per_table, "chunk_column", kt::text, "", "integer column to split the table by"},
    {per_table, "chunks", kt::integer, "", "split into this many chunks", 1, 100000},
    {per_table, "chunk_size", kt::size, "", "split into chunks of this size"},
    {per_table, "where", kt::text, "", "copy only the rows this SQL condition keeps"},
    {per_table, "ranges", kt::list, "", "explicit integer key ranges \"lo..hi\" (lo <= key < hi)"},
    {per_table, "rest", kt::boolean, "false", "one more chunk for the keys no range takes"},
    {per_table, "doris_table", kt::text, "", "Doris targets: load into this table"},
    {per_table, "doris_columns", kt::text, "", "Doris targets: the `columns` header"},
    {per_table, "doris_where", kt::text, "", "Doris targets: the `where` header"},

    {entry, "source", kt::text, "",
     "incremental: the source table, exact case (\"A\".\"B\" quoted)"},
    {entry, "target", kt::text, "", "incremental: the target table (default: as source)"},
    {entry, "filter", kt::text, "", "incremental: a source-side SQL condition"},
    {entry, "key", kt::list, "", "incremental: the columns that identify a row (upsert on them)"},
    {entry, "watermark", kt::text, "", "incremental: the source column that orders changes"},
    {entry, "target_watermark", kt::text, "", "incremental: its name on the target, if other"},
    {entry, "lookback", kt::text, "0",
     "incremental: re-read this far behind the mark (\"10m\"; a number for integers)"},
    {entry, "chunk_by", kt::text, "",
     "incremental: split by this column (integer, date/time, text, uuid)"},
    {entry, "mode", kt::choice, "incremental", "incremental (upsert) or full (truncate, COPY)", 0,
     0, "incremental|full"},
    {entry, "disable_indexes", kt::boolean, "false",
     "incremental: full mode drops non-key indexes, rebuilds after"},
    {entry, "deletes", kt::choice, "none", "reconcile: delete target keys gone from the source", 0,
     0, "none|reconcile"},
    {entry, "on_error", kt::choice, "fail",
     "reject: rows the target refuses go to <state-dir>/rejects/", 0, 0, "fail|reject"},
    {"incremental", "chunk_rows", kt::integer, "200000", "rows per chunk of an incremental load",
     1000, int_max},
    {"snowflake", "endpoint", kt::text, "",
     "replaces https://ACCOUNT.snowflakecomputing.com (tests, private links)"},
    {"snowflake", "private_key_file", kt::path, "", "PEM private key for key-pair sign-in"},
    {"snowflake", "private_key_passphrase_env", kt::text, "",
     "name of the environment variable holding the key's passphrase"},
    {"snowflake", "oauth_token", kt::text, "",
     "an OAuth token instead of a key pair (write \"${ENV}\"); never printed"},

    {"index", "maintenance_work_mem", kt::server_size, "256MB", "for the index builds"},
    {"stats", "interval", kt::interval, "1s",
     "how often <state-dir>/stats.csv gets a line; 0: off"},
    {"progress", "interval", kt::interval, "10s", "progress log lines without a terminal; 0: off"},
    {"progress", "redraw_interval", kt::interval, "100ms", "terminal redraws (at least 100ms)"},
    {"progress", "max_tables", kt::integer, "8", "table lines shown; the rest in one", 1, 1000},
    {"schema", "no_owner", kt::boolean, "false", "pg_restore --no-owner (roles missing)"},
    {"schema", "no_acl", kt::boolean, "false", "pg_restore --no-privileges"},
    {"large_objects", "skip", kt::boolean, "false", "as --skip-large-objects"},
    {"pg", "bin_dir", kt::path, "", "where pg_dump and pg_restore are (default: found by version)"},
    {"verify", "hash", kt::choice, "auto", "row checksums: auto (hash64) or md5", 0, 0, "auto|md5"},

    {"sqlite", "index", kt::list, "", "more indexes after the data (the shard key has one)"},
    {"sqlite", "chunk_rows", kt::integer, "50000", "rows per chunk of a SQLite source (at most)", 1,
     int_max},
    {"sqlite", "chunk_bytes", kt::size, "64MB", "bytes per chunk of a SQLite source (at most)"},
    {"sqlite", "commit_rows", kt::integer, "500000", "rows per transaction in a target file", 1,
     1 << 30},
    {"sqlite", "page_size", kt::integer, "16384", "page size of new files (a power of two)", 512,
     65536},
    {"sqlite", "cache_mib", kt::integer, "4", "page cache per target file", 1, 4096},
    {"sqlite", "rows_per_insert", kt::integer, "0", "rows per INSERT (0: as many as fit)", 0,
     1 << 20},
    {"sqlite", "segment_insert", kt::boolean, "true", "copy whole record segments when it can"},
    {"sqlite", "segment_kib", kt::integer, "2048", "size of a record segment", 64, 1 << 20},
    {"sqlite", "batch_kib", kt::integer, "64", "rows handed to a writer at once", 4, 65536},
    {"sqlite", "writer_threads", kt::integer, "",
     "writer threads (default: one per core, at most "
     "one per file)",
     1, 1 << 20},
    {"sqlite", "raw_scan", kt::boolean, "true", "read SQLite source pages directly when it can"},

    {"doris", "two_phase_commit", kt::boolean, "false",
     "precommit, record, then commit each chunk"},
    {"doris", "group_commit", kt::choice, "", "no labels; for many small tables", 0, 0,
     "async_mode|sync_mode"},
    {"doris", "max_filter_ratio", kt::number, "", "unset: no row may be filtered", 0, 1},
    {"doris", "concurrency_per_be", kt::integer, "2", "loads at once per BE (--jobs: the total)", 1,
     64},
    {"doris", "retries", kt::integer, "5", "attempts per load after a transient error", 0, 100},
    {"doris", "backoff_ms", kt::integer, "500", "first wait between attempts; doubles", 1, 600000},
    {"doris", "backoff_max_ms", kt::integer, "30000", "longest wait between attempts", 1, 3600000},
    {"doris", "expect_100_ms", kt::integer, "10000", "how long to wait for 100 Continue", 1,
     600000},
    {"doris", "timeout", kt::integer, "0", "the load `timeout` header in seconds (0: Doris's)", 0,
     259200},
    {"doris", "buffer_kib", kt::integer, "256", "body buffer per load", 16, 2048},
    {"doris", "compress", kt::choice, "", "compress the body (CSV only)", 0, 0, "gz|lz4", "gzip"},
    {"doris", "binary_copy", kt::boolean, "true", "COPY binary where the types allow (CSV only)"},
    {"doris", "columns", kt::text, "", "the `columns` header of every load"},
    {"doris", "where", kt::text, "", "the `where` header of every load"},
    {"doris", "tls_ca_file", kt::path, "",
     "https targets: the CA of the FE's and BEs' certificates"},
    {"doris", "trusted_bes", kt::list, "",
     "host:port of BEs the FE may redirect to besides its own"},
    {"doris.debug", "exit_after_precommit", kt::integer, "0",
     "tests: exit like kill -9 after this many precommits", 0, 1 << 20},

    {"online", "publication", kt::text, "", "use this publication; as --publication"},
    {"online", "apply_workers", kt::integer, "2", "apply connections on the target", 1, 64},
    {"online", "coalesce", kt::boolean, "true", "net effect per key in a group of transactions"},
    {"online", "reconnect_s", kt::integer, "300",
     "give up after this many seconds of failed "
     "reconnects",
     0, 604800},
    {"online", "keep_slot", kt::boolean, "false", "keep slot and publication; as --keep-slot"},
    {"online", "copy", kt::boolean, "true",
     "copy the tables first; false: follow only (the second direction of a two-way setup)"},
    {"online", "timeout_s", kt::integer, "60", "switchover: wait this long; as --timeout", 1,
     604800},
    {"online", "verify", kt::boolean, "false", "switchover: compare the tables; as --verify"},

    {"http", "listen", kt::text, "",
     "serve the HTTP API, /metrics and the dashboard here (HOST:PORT); as --http"},
    {"http", "token", kt::text, "",
     "bearer token for pause/resume/switchover/stop (write \"${ENV}\"); never printed"},
    {"http", "tls_cert", kt::path, "", "PEM certificate chain: serve HTTPS and WSS"},
    {"http", "tls_key", kt::path, "", "PEM private key of tls_cert"},
};

bool is_integer_text(std::string_view v, std::int64_t& out) {
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return !v.empty() && ec == std::errc{} && ptr == v.data() + v.size();
}

std::string choice_text(std::string_view choices, std::string_view last_sep) {
  std::vector<std::string_view> parts;
  while (!choices.empty()) {
    const auto bar = choices.find('|');
    parts.push_back(choices.substr(0, bar));
    choices = bar == std::string_view::npos ? std::string_view{} : choices.substr(bar + 1);
  }
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? last_sep : std::string_view(", ");
    out += parts[i];
  }
  return out;
}

bool in_choices(std::string_view choices, std::string_view v) {
  while (!choices.empty()) {
    const auto bar = choices.find('|');
    if (choices.substr(0, bar) == v) return true;
    choices = bar == std::string_view::npos ? std::string_view{} : choices.substr(bar + 1);
  }
  return false;
}

std::vector<std::string_view> sections() {
  std::vector<std::string_view> out;
  for (const auto& k : keys) {
    if (!k.section.empty() && std::find(out.begin(), out.end(), k.section) == out.end())
      out.push_back(k.section);
  }
  return out;
}

std::vector<std::string_view> names_in(std::string_view section) {
  std::vector<std::string_view> out;
  for (const auto& k : keys) {
    if (k.section == section && k.name != any_name) out.push_back(k.name);
  }
  return out;
}

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (const auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string escape_cell(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::span<const config_key> config_keys() {
  return keys;
}

std::string type_text(const config_key& key) {
  switch (key.type) {
    case kt::text:
      return "string";
    case kt::path:
      return "path";
    case kt::url:
      return "URL";
    case kt::boolean:
      return "boolean";
    case kt::integer:
      return fmt::format("integer {}..{}", key.lo, key.hi);
    case kt::number:
      return fmt::format("number {}..{}", key.lo, key.hi);
    case kt::size:
      return "size";
    case kt::interval:
      return "interval";
    case kt::duration:
      return "duration";
    case kt::server_size:
      return "PostgreSQL size";
    case kt::server_time:
      return "PostgreSQL duration";
    case kt::list:
      return "list of strings";
    case kt::choice:
      return choice_text(key.choices, " or ");
  }
  return "string";
}

std::string full_name(const config_key& key) {
  if (key.section.empty()) return std::string(key.name);
  if (key.section == entry) return fmt::format("[[tables]].{}", key.name);
  return fmt::format("{}.{}", key.section, key.name);
}

bool is_config_section(std::string_view section) {
  return std::any_of(std::begin(keys), std::end(keys),
                     [&](const config_key& k) { return !section.empty() && k.section == section; });
}

const config_key* find_config_key(std::string_view section, std::string_view name) {
  for (const auto& k : keys) {
    if (k.section == section && (k.name == name || k.name == any_name)) return &k;
  }
  return nullptr;
}

const config_key* find_setting(std::string_view flat_name) {
  constexpr std::string_view entries = "tables[";
  if (flat_name.substr(0, entries.size()) == entries) {
    // tables[N].<key>: an entry of an incremental job.
    const auto close = flat_name.find("].");
    if (close == std::string_view::npos) return nullptr;
    return find_config_key(entry_section, flat_name.substr(close + 2));
  }
  constexpr std::string_view tables = "tables.";
  if (flat_name.substr(0, tables.size()) == tables) {
    // tables.<schema.table>.<key>: the table's name may hold dots, the key does not.
    const auto dot = flat_name.rfind('.');
    if (dot <= tables.size()) return nullptr;
    return find_config_key(per_table_section, flat_name.substr(dot + 1));
  }
  constexpr std::string_view regex = "filters.exclude_regex.";
  if (flat_name.substr(0, regex.size()) == regex && flat_name.size() > regex.size())
    return find_config_key("filters.exclude_regex", any_name);
  const auto dot = flat_name.rfind('.');
  if (dot == std::string_view::npos) return nullptr;
  return find_config_key(flat_name.substr(0, dot), flat_name.substr(dot + 1));
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string_view nearest_name(std::string_view word, std::span<const std::string_view> candidates) {
  std::string_view best;
  std::size_t best_distance = 0;
  for (const auto c : candidates) {
    const std::size_t d = edit_distance(word, c);
    const std::size_t allowed = std::max<std::size_t>(2, std::max(word.size(), c.size()) / 3);
    if (d <= allowed && (best.empty() || d < best_distance)) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::string unknown_key_message(std::string_view section, std::string_view name) {
  std::string where = section.empty() ? std::string() : fmt::format(" in [{}]", section);
  const auto local = names_in(section);
  if (const auto near = nearest_name(name, local); !near.empty())
    return fmt::format("unknown key '{}'{} (did you mean '{}'?)", name, where, near);
  // The right key in another section ("[copy] two_phase_commit" for doris.two_phase_commit).
  std::vector<std::string> full;
  for (const auto& k : keys) {
    if (k.name != any_name && !k.section.empty() && k.section != section &&
        edit_distance(name, k.name) <= 1)
      full.push_back(full_name(k));
  }
  if (!full.empty())
    return fmt::format("unknown key '{}'{} (did you mean '{}'?)", name, where, full.front());
  if (section.empty()) {
    return fmt::format("unknown key '{}' (valid: {}, or a [section] of settings)", name,
                       join(local));
  }
  return fmt::format("unknown key '{}'{} (valid: {})", name, where, join(local));
}

std::string unknown_section_message(std::string_view section) {
  auto all = sections();
  all.push_back("tables");  // [tables] include / exclude, and the per-table sections in it
  if (const auto near = nearest_name(section, all); !near.empty())
    return fmt::format("unknown section [{}] (did you mean [{}]?)", section, near);
  return fmt::format("unknown section [{}] (valid: {})", section, join(all));
}

std::optional<std::string> check_value(const config_key& key, std::string_view flat_name,
                                       std::string_view value) {
  const auto bad = [&](std::string_view expected) {
    return fmt::format("{} = '{}': expected {}", flat_name, value, expected);
  };
  switch (key.type) {
    case kt::boolean:
      if (value == "true" || value == "false" || value == "1" || value == "0") return std::nullopt;
      return bad("true or false");
    case kt::integer: {
      std::int64_t n = 0;
      if (is_integer_text(value, n) && n >= key.lo && n <= key.hi) return std::nullopt;
      return bad(fmt::format("an integer from {} to {}", key.lo, key.hi));
    }
    case kt::number: {
      const std::string text(value);
      char* end = nullptr;
      const double d = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size() && std::isfinite(d) &&
          d >= static_cast<double>(key.lo) && d <= static_cast<double>(key.hi))
        return std::nullopt;
      return bad(fmt::format("a number from {} to {}", key.lo, key.hi));
    }
    case kt::choice:
      if (in_choices(key.choices, value) || in_choices(key.aliases, value)) return std::nullopt;
      return bad(choice_text(key.choices, " or "));
    case kt::size:
      try {
        (void)parse_size(std::string(value), std::string(flat_name));
      } catch (const usage_error& e) {
        return std::string(e.what());
      }
      return std::nullopt;
    case kt::interval:
      if (parse_interval(value)) return std::nullopt;
      return bad("an interval (examples: 500ms, 1s, 2m)");
    default:
      return std::nullopt;  // strings, paths, lists; the servers judge their own settings
  }
}

void check_settings(const std::map<std::string, std::string>& settings) {
  for (const auto& [name, value] : settings) {
    const config_key* key = find_setting(name);
    if (key == nullptr) {
      const std::string_view flat = name;
      const auto dot = flat.rfind('.');
      const auto section = dot == std::string_view::npos ? std::string_view{} : flat.substr(0, dot);
      const auto leaf = dot == std::string_view::npos ? flat : flat.substr(dot + 1);
      if (section.substr(0, 7) == "tables[")
        throw usage_error(unknown_key_message(entry, flat.substr(flat.find("].") + 2)));
      if (section.substr(0, 7) == "tables.")
        throw usage_error(unknown_key_message(per_table, leaf));
      if (!section.empty() && !is_config_section(section))
        throw usage_error(unknown_section_message(section));
      throw usage_error(unknown_key_message(section, leaf));
    }
    if (auto error = check_value(*key, name, value)) throw usage_error(*error);
  }
}

std::string setting_or_default(const std::map<std::string, std::string>& settings,
                               std::string_view flat_name) {
  if (const auto it = settings.find(std::string(flat_name)); it != settings.end())
    return it->second;
  const config_key* key = find_setting(flat_name);
  return key == nullptr ? std::string() : std::string(key->default_value);
}

std::int64_t integer_setting(const std::map<std::string, std::string>& settings,
                             std::string_view flat_name) {
  const config_key* key = find_setting(flat_name);
  const std::string v = setting_or_default(settings, flat_name);
  if (key == nullptr || key->type != kt::integer)
    throw std::logic_error(fmt::format("{} is not a registered integer setting", flat_name));
  if (auto error = check_value(*key, flat_name, v)) throw usage_error(*error);
  std::int64_t n = 0;
  (void)is_integer_text(v, n);
  return n;
}

bool boolean_setting(const std::map<std::string, std::string>& settings,
                     std::string_view flat_name) {
  const config_key* key = find_setting(flat_name);
  const std::string v = setting_or_default(settings, flat_name);
  if (key == nullptr || key->type != kt::boolean)
    throw std::logic_error(fmt::format("{} is not a registered boolean setting", flat_name));
  if (auto error = check_value(*key, flat_name, v)) throw usage_error(*error);
  return v == "true" || v == "1";
}

bool is_secret_setting(std::string_view flat_name) {
  // Tokens are secrets: what shows settings says one is set, never what it is.
  return flat_name.find("token") != std::string_view::npos;
}

std::string settings_summary(const std::map<std::string, std::string>& settings) {
  std::string out;
  for (const auto& [name, value] : settings) {
    const config_key* key = find_setting(name);
    out += fmt::format("setting {} = {}", name, is_secret_setting(name) ? secret_shown : value);
    if (key != nullptr && !key->default_value.empty())
      out += fmt::format(" (default {})", key->default_value);
    out += '\n';
  }
  return out;
}

std::string config_keys_markdown() {
  std::string out = "| key | type | default | what |\n|---|---|---|---|\n";
  for (const auto& k : keys) {
    out += fmt::format("| `{}` | {} | {} | {} |\n", full_name(k), escape_cell(type_text(k)),
                       k.default_value.empty() ? "" : fmt::format("`{}`", k.default_value),
                       escape_cell(k.help));
  }
  return out;
}

}  // namespace uringmig::engine
