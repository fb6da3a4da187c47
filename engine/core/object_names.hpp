// The names uringmig gives its own objects on the servers it works with (an online job's
// publication, slot and replication origin), and how to recognise them: a job never copies its
// own bookkeeping.
#pragma once

#include <string>
#include <string_view>

namespace uringmig::engine {

/// The publication (and slot, and origin) name of an online job: "uringmig_<token>", the token
/// being 8 hex digits.
inline std::string job_object_name(const std::string& token) {
  return "uringmig_" + token;
}

/// Whether a publication is one an online job created (of this run or another): such a
/// publication is the job's own bookkeeping and never cloned to a target.
inline bool is_job_publication(std::string_view name) {
  constexpr std::string_view prefix = "uringmig_";
  if (name.size() != prefix.size() + 8 || name.substr(0, prefix.size()) != prefix) return false;
  return name.substr(prefix.size()).find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace uringmig::engine
