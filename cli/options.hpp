#pragma once

#include "engine/core/job.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::cli {

/// One source of settings: a preset, the config file or the command line. Unset fields defer to
/// a lower layer; `settings` merge key by key.
struct option_layer {
  std::optional<std::string> preset;
  std::optional<std::string> source;
  std::optional<std::string> target;
  std::optional<std::vector<std::string>> tables;
  std::optional<std::vector<std::string>> exclude;
  std::optional<int> jobs;
  std::optional<int> index_jobs;
  std::optional<std::filesystem::path> state_dir;
  std::optional<bool> follow;
  std::optional<bool> dry_run;
  std::optional<bool> restart;
  std::optional<std::chrono::seconds> max_runtime;
  std::optional<std::string> log_level;
  // A file whose first line is the password for the source's / target's URL.
  std::optional<std::filesystem::path> source_password_file;
  std::optional<std::filesystem::path> target_password_file;
  std::map<std::string, std::string> settings;
};

/// The merged result: what the engine gets, plus what only cli/ needs.
struct resolved_options {
  engine::job_options job;
  std::string log_level = "info";
  std::optional<std::filesystem::path> source_password_file;
  std::optional<std::filesystem::path> target_password_file;
};

/// Reads the password in `file` (its first line) and puts it, percent-encoded, into `url`'s
/// user info in place of any password there. Throws engine::usage_error naming `role` when the
/// file cannot be read or the URL has no user info to hold it (sqlite://). Warns (spdlog) when
/// others may read the file.
std::string url_with_password_file(const std::string& url, const std::filesystem::path& file,
                                   std::string_view role);

/// Highest precedence last: flags > config file > preset.
resolved_options merge_layers(std::string_view command, const option_layer& preset,
                              const option_layer& config, const option_layer& flags);

/// "90s", "14m", "2h", "1h30m", "1d12h", "0s"; nullopt when malformed (a bare number has no
/// unit and is rejected, so that "90" is never silently read as seconds or minutes).
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

/// trace, debug, info, warn, error.
bool is_log_level(std::string_view name) noexcept;
inline constexpr std::string_view log_level_names = "trace, debug, info, warn, error";

/// Bounds for --jobs / --index-jobs (0 means "pick for me").
inline constexpr int max_jobs = 256;

}  // namespace uringmig::cli
