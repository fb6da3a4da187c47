#include "cli/options.hpp"

#include "codecs/url.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <fstream>

namespace uringmig::cli {

namespace {

template <typename T>
void take(std::optional<T>& into, const std::optional<T>& from) {
  if (from) into = from;
}

void apply(option_layer& into, const option_layer& from) {
  take(into.preset, from.preset);
  take(into.source, from.source);
  take(into.target, from.target);
  take(into.tables, from.tables);
  take(into.exclude, from.exclude);
  take(into.jobs, from.jobs);
  take(into.index_jobs, from.index_jobs);
  take(into.state_dir, from.state_dir);
  take(into.follow, from.follow);
  take(into.dry_run, from.dry_run);
  take(into.restart, from.restart);
  take(into.max_runtime, from.max_runtime);
  take(into.log_level, from.log_level);
  take(into.source_password_file, from.source_password_file);
  take(into.target_password_file, from.target_password_file);
  for (const auto& [key, value] : from.settings)
    into.settings[key] = value;
}

}  // namespace

resolved_options merge_layers(std::string_view command, const option_layer& preset,
                              const option_layer& config, const option_layer& flags) {
  option_layer m;
  apply(m, preset);
  apply(m, config);
  apply(m, flags);

  resolved_options r;
  auto& j = r.job;
  j.command = std::string(command);
  j.preset = m.preset.value_or("");
  j.source_url = m.source.value_or("");
  j.target_url = m.target.value_or("");
  j.tables = m.tables.value_or(std::vector<std::string>{});
  j.exclude = m.exclude.value_or(std::vector<std::string>{});
  j.jobs = m.jobs.value_or(0);
  j.index_jobs = m.index_jobs.value_or(0);
  if (m.state_dir) j.state_dir = *m.state_dir;
  j.follow = m.follow.value_or(false);
  j.dry_run = m.dry_run.value_or(false);
  j.restart = m.restart.value_or(false);
  j.max_runtime = m.max_runtime.value_or(std::chrono::seconds{0});
  j.settings = std::move(m.settings);
  r.log_level = m.log_level.value_or("info");
  r.source_password_file = m.source_password_file;
  r.target_password_file = m.target_password_file;
  return r;
}

std::string url_with_password_file(const std::string& url, const std::filesystem::path& file,
                                   std::string_view role) {
  const std::string what = std::string(role) + "_password_file '" + file.string() + "'";
  struct stat st {};
  std::ifstream in(file, std::ios::binary);
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !in) {
    throw engine::usage_error("cannot read " + what +
                              " (give a readable file whose first line is the password)");
  }
  if ((st.st_mode & 077) != 0) {
    spdlog::warn("{} may be read by other users: run chmod 600 on it", what);
  }
  std::string password;
  std::getline(in, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) throw engine::usage_error(what + " is empty");
  auto spliced = codecs::with_password(url, password);
  if (!spliced) {
    throw engine::usage_error(what + ": the " + std::string(role) +
                              " URL has no user info to hold a password");
  }
  return std::move(*spliced);
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  int last_rank = 5;  // units must come in decreasing order, each at most once
  while (i < text.size()) {
    std::int64_t n = 0;
    const std::size_t digits_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 10'000'000'000LL) return std::nullopt;
      ++i;
    }
    if (i == digits_start || i == text.size()) return std::nullopt;  // no number, or no unit
    int rank = 0;
    std::int64_t unit = 0;
    switch (text[i]) {
      case 'd':
        rank = 4, unit = 86400;
        break;
      case 'h':
        rank = 3, unit = 3600;
        break;
      case 'm':
        rank = 2, unit = 60;
        break;
      case 's':
        rank = 1, unit = 1;
        break;
      default:
        return std::nullopt;
    }
    if (rank >= last_rank) return std::nullopt;
    last_rank = rank;
    total += n * unit;
    if (total > 100LL * 365 * 86400) return std::nullopt;
    ++i;
  }
  return std::chrono::seconds{total};
}

bool is_log_level(std::string_view name) noexcept {
  constexpr std::array<std::string_view, 5> names{"trace", "debug", "info", "warn", "error"};
  for (const auto n : names) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace uringmig::cli
