#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace uringmig::engine {

/// Everything a job needs, already merged (flags > config file > preset) by cli/.
struct job_options {
  std::string command;  // run | plan | follow | switchover | status | verify (job_spec::kind)
  std::string preset;   // bulk | online | ...
  std::string source_url;
  std::string target_url;
  std::vector<std::string> tables;   // glob patterns over schema.table
  std::vector<std::string> exclude;  // glob patterns over schema.table
  int jobs = 0;                      // 0: one per core, at most 4
  int index_jobs = 0;
  std::filesystem::path state_dir = "uringmig-state";
  bool dry_run = false;
  bool restart = false;
  bool follow = false;
  bool json = false;                    // status: print one JSON object instead of tables
  std::chrono::seconds max_runtime{0};  // 0: no deadline
  // Settings with no flag of their own, flattened from the config file
  // ("copy.chunk_size" -> "512MB"); the keys of engine/core/config_keys.cpp.
  std::map<std::string, std::string> settings;
};

/// Bad input found before anything was touched: exit code 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The job failed after it started: exit code 1. what() is one line for the user.
struct job_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace uringmig::engine
