#include "engine/cdc/handshake.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>

namespace uringmig::engine::cdc {

namespace {

constexpr std::array<std::string_view, 4> state_names{"requested", "accepted", "cancelled", "done"};

std::optional<std::int64_t> to_i64(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || end != s->data() + s->size()) return std::nullopt;
  return v;
}

}  // namespace

std::string format_sentinel(const sentinel_id& s) {
  return s.job + "/" + s.request;
}

std::optional<sentinel_id> parse_sentinel(std::string_view content) {
  const auto slash = content.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == content.size())
    return std::nullopt;
  return sentinel_id{std::string(content.substr(0, slash)), std::string(content.substr(slash + 1))};
}

std::string format_request(const switchover_request& r) {
  return r.id + " " + std::string(state_names.at(static_cast<std::size_t>(r.state)));
}

std::optional<switchover_request> parse_request(std::string_view text) {
  const auto space = text.find(' ');
  if (space == std::string_view::npos || space == 0) return std::nullopt;
  const std::string_view state = text.substr(space + 1);
  for (std::size_t i = 0; i < state_names.size(); ++i) {
    if (state_names[i] == state)
      return switchover_request{std::string(text.substr(0, space)), static_cast<request_state>(i)};
  }
  return std::nullopt;
}

sentinel_verdict judge_sentinel(std::string_view content, std::string_view job,
                                const std::optional<std::string>& request, bool requester_alive) {
  const auto s = parse_sentinel(content);
  if (!s || s->job != job) return sentinel_verdict::other_job;
  const auto r = request ? parse_request(*request) : std::nullopt;
  if (!r || r->id != s->request || r->state != request_state::requested || !requester_alive)
    return sentinel_verdict::stale;
  return sentinel_verdict::honour;
}

bool beating(const std::optional<std::string>& pid, const std::optional<std::string>& beat_ms,
             std::int64_t now_ms) {
  const auto p = to_i64(pid);
  const auto b = to_i64(beat_ms);
  if (!p || !b || *p <= 0) return false;
  if (now_ms - *b > beat_max_age_ms) return false;
  return ::kill(static_cast<pid_t>(*p), 0) == 0 || errno == EPERM;
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace uringmig::engine::cdc
