#pragma once

// What to do with one SQL API answer: a plain decision, apart from the I/O that acts on it
// (tested without a server). Facts: shared/reference/snowflake-sql-api.md ("Responses").

#include "connectors/http/http_client.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace uringmig::connectors::snowflake {

struct retry_policy {
  int max_attempts = 8;  // per request, the first included
  std::chrono::milliseconds first{250};
  std::chrono::milliseconds max{8000};
};

enum class next_step {
  use,    // 200, 202 or 422: the caller reads the body
  renew,  // 401, the token not yet renewed for this request: sign a new one, send again now
  retry,  // 429, 503, 504, a dropped or refused connection: wait `wait`, send again
  fail,   // anything else, or retries used up: `message` is the one line to show
};

struct decision {
  next_step step = next_step::fail;
  std::chrono::milliseconds wait{0};
  std::string message;
};

/// Decides on `r`, the answer to attempt number `attempt` (0 first) of `what` (e.g. "submitting
/// the statement"); `renewed`: a 401 was already answered by a new token. `jitter` in [0, 1)
/// spreads the backoff (half to all of the exponential step). Messages hold no secret.
decision decide(const http::http_response& r, std::string_view what, int attempt, bool renewed,
                const retry_policy& p, double jitter);

/// The exponential step of attempt `attempt` with its jitter, capped at p.max; a `Retry-After`
/// in seconds (429) is honoured up to p.max.
std::chrono::milliseconds backoff(const retry_policy& p, int attempt, double jitter,
                                  const std::string* retry_after);

}  // namespace uringmig::connectors::snowflake
