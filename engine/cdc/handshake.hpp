#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// The switchover handshake between `uringmig switchover` and the follower of the same job. The
// only channel is the job's state store (kv marks); the sentinel in the source's WAL says where
// the follower has to have applied everything. A sentinel stays in the WAL after its switchover
// gave up, and every slot on the source database decodes it, so the follower honours one only
// when it names its own job and the switchover that wrote it is still waiting.

namespace uringmig::engine::cdc {

/// kv keys in the job's state store.
inline constexpr std::string_view request_key = "online.switchover";  // "<id> <state>"
inline constexpr std::string_view requester_pid_key = "online.switchover_pid";
inline constexpr std::string_view requester_beat_key = "online.switchover_beat";  // unix ms
inline constexpr std::string_view follower_pid_key = "online.follower_pid";
inline constexpr std::string_view follower_beat_key = "online.follower_beat";  // unix ms
inline constexpr std::string_view sequences_key = "online.sequences_synced";

/// A heartbeat older than this means its process is gone (or stopped).
inline constexpr std::int64_t beat_max_age_ms = 10000;

/// What a sentinel names: the job (its slot) and the switchover request's id.
struct sentinel_id {
  std::string job;
  std::string request;
};
std::string format_sentinel(const sentinel_id& s);
/// nullopt for content that is not "<job>/<id>" (another tool's message, an older format).
std::optional<sentinel_id> parse_sentinel(std::string_view content);

enum class request_state { requested, accepted, cancelled, done };
struct switchover_request {
  std::string id;
  request_state state = request_state::requested;
};
std::string format_request(const switchover_request& r);
std::optional<switchover_request> parse_request(std::string_view text);

enum class sentinel_verdict {
  honour,     // this job's, and its switchover is waiting for it
  other_job,  // another job's on the same source: not ours to act on
  stale,      // this job's, but its switchover timed out, was stopped or died
};
/// `request` is the job's current `online.switchover` mark; `requester_alive` whether the
/// process that wrote it still beats.
sentinel_verdict judge_sentinel(std::string_view content, std::string_view job,
                                const std::optional<std::string>& request, bool requester_alive);

/// Whether a process that records its pid and a heartbeat (unix ms) is alive: the pid exists on
/// this host and the beat is younger than beat_max_age_ms at `now_ms`.
bool beating(const std::optional<std::string>& pid, const std::optional<std::string>& beat_ms,
             std::int64_t now_ms);

/// Milliseconds since the Unix epoch.
std::int64_t unix_ms();

}  // namespace uringmig::engine::cdc
