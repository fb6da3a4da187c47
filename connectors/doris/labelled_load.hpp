#pragma once

// A Stream Load of a whole body under one label, exactly once: an unknown outcome (a reset, a
// timeout, an HTTP error without an answer) or a failure Doris lifts by itself is tried again
// with the same label after a backoff; `Label Already Exists` FINISHED means an earlier attempt
// loaded the rows, RUNNING is waited out by asking the FE for the label's state (never sending
// the rows meanwhile). No 2PC, no engine logic.

#include "connectors/doris/stream_load.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>

namespace uringmig::connectors::doris {

struct retry_policy {
  int retries = 5;  // attempts after the first, for outcomes that may clear up
  std::chrono::milliseconds backoff{500};
  std::chrono::milliseconds backoff_max{30000};
  /// How long a label may stay RUNNING before the load gives up (Doris cancels a load after its
  /// timeout, 600 s by default).
  std::chrono::seconds label_wait{660};
  std::stop_token stop;  // a backoff ends early when it is requested
};

/// How long to wait before retry `attempt` (0-based): doubling up to backoff_max.
std::chrono::milliseconds backoff_for(const retry_policy& p, int attempt);

struct labelled_result {
  bool ok = false;
  /// Loaded by an earlier request with this label (this run's lost answer, or a killed run's):
  /// `answer` is not that load's, its counts are unknown.
  bool earlier = false;
  bool unauthorized = false;          // the credentials were refused: no retry helps
  bool interrupted = false;           // stopped while waiting to retry: nothing known to be loaded
  std::optional<load_answer> answer;  // the last answer Doris gave
  int attempts = 0;
  std::string error;  // one line: what Doris or the transport said last
};

/// Loads `rq` (a complete body in `rq.body`; `rq.label` set) once. `what` names it in logs.
boost::asio::awaitable<labelled_result> load_with_label(http_client& client, stream_load_request rq,
                                                        const retry_policy& policy,
                                                        std::string what);

}  // namespace uringmig::connectors::doris
