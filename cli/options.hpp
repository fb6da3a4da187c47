#pragma once

#include "engine/job.hpp"

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
  std::map<std::string, std::string> settings;
};

/// The merged result: what the engine gets, plus what only cli/ needs.
struct resolved_options {
  engine::job_options job;
  std::string log_level = "info";
};

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
