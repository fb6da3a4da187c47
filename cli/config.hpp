#pragma once

#include "cli/options.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The config file (--config FILE) is TOML. Top-level keys mirror the flags:
//
//   source = "postgresql://app:${PGPASSWORD}@db1/app"
//   target = "sqlite:///data/shards?shards=8&shard_key=customer_id"
//   preset = "bulk"                  # jobs, index_jobs, follow, dry_run, restart,
//   tables = ["public.*"]            # state_dir, max_runtime ("1h30m" or seconds),
//   exclude = ["public.tmp_*"]       # log_level
//
//   [copy]                           # the sections of engine/core/config_keys.cpp: flattened into
//   chunk_size = "512MB"             #   job_options::settings, "copy.chunk_size" -> "512MB"
//
//   [tables."public.orders"]         # per-table settings
//   chunk_column = "id"              #   "tables.public.orders.chunk_column" -> "id"
//
//   [[tables]]                       # an incremental job's entries (instead of the above)
//   source = "public.orders"         #   "tables[0].source" -> "public.orders"
//
// Because TOML cannot hold both `tables = [...]` and `[tables."x"]`, the patterns may also be
// given inside the table as `[tables] include = [...]  exclude = [...]`.
//
// String values (also inside arrays and settings) expand `${VAR}` and `${VAR:-default}` from
// the environment; `$${` is a literal `${`. In the user info of `source` and `target`
// (`scheme://${USER}:${PASSWORD}@host`) the value is percent-encoded, so any password works.
// Variables come from the real environment first, then from a `.env` file next to the config file,
// then from `.env` in the current directory.

namespace uringmig::cli {

/// Looks a variable up; nullopt when unset.
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment (getenv).
std::optional<std::string> process_env(const std::string& name);

/// Parses a .env file: KEY=VALUE lines, `export KEY=VALUE`, `#` comments, values optionally in
/// 'single' (literal) or "double" (\n \t \\ \" \$ escapes) quotes. Throws engine::usage_error
/// naming `origin`:line for a malformed line (never quoting the value).
std::map<std::string, std::string> parse_dotenv(std::string_view text, std::string_view origin);

/// The .env files that apply to `config_file`, highest precedence first: next to the config
/// file, then in `cwd` (once if both are the same file). Missing files are not listed.
std::vector<std::filesystem::path> find_dotenv_files(const std::filesystem::path& config_file,
                                                     const std::filesystem::path& cwd);

/// `real` first, then the variables of `dotenv_files` in order. Reads the files now; throws
/// engine::usage_error when one cannot be read or parsed.
env_lookup layered_env(env_lookup real, const std::vector<std::filesystem::path>& dotenv_files);

/// Expands `${VAR}` / `${VAR:-default}` (default when unset or empty); `$${` gives `${`.
/// `where` names the value in errors ("app.toml: source"). Throws engine::usage_error for an
/// unset variable without default, a bad name or an unterminated `${`.
std::string interpolate(std::string_view text, const env_lookup& env, std::string_view where);

/// `interpolate` for a URL: a `${...}` inside its user info (`scheme://USER:PASSWORD@host`) is
/// percent-encoded as it is pasted, so a password with `@ / ? # %` in it stays one password;
/// elsewhere values are pasted as they are.
std::string interpolate_url(std::string_view text, const env_lookup& env, std::string_view where);

/// Whether the sections and keys of a config must be the registered ones
/// (engine/core/config_keys.hpp): `shape` reads any section into settings (the engine then checks
/// them), `registered` stops at the first unknown section or key, or a value of the wrong type.
enum class key_check { shape, registered };

/// Parses config text; `origin` names it in errors. Throws engine::usage_error (one line).
option_layer parse_config(std::string_view toml_text, std::string_view origin,
                          const env_lookup& env, key_check check = key_check::shape);

/// Reads and parses `file`, every key checked against the registry (key_check::registered).
/// Throws engine::usage_error when it is missing, unreadable or bad: an unknown key or section
/// names the nearest valid one ("did you mean 'chunk_size'?").
option_layer load_config(const std::filesystem::path& file, const env_lookup& env);

}  // namespace uringmig::cli
