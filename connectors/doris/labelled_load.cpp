#include "connectors/doris/labelled_load.hpp"

#include "io/sleep.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace uringmig::connectors::doris {

namespace asio = boost::asio;

std::chrono::milliseconds backoff_for(const retry_policy& p, int attempt) {
  auto d = p.backoff * (1LL << std::min(attempt, 16));
  return std::min<std::chrono::milliseconds>(d, p.backoff_max);
}

namespace {

enum class label_fate { loaded, gone, waiting_too_long, stopped, unauthorized };

/// Asks the FE for the state of a RUNNING label until it settles.
asio::awaitable<label_fate> wait_for_label(http_client& client, const stream_load_request& rq,
                                           const retry_policy& policy, const std::string& what,
                                           std::string& last) {
  const auto deadline = std::chrono::steady_clock::now() + policy.label_wait;
  for (int polls = 0;; ++polls) {
    http_options o;
    o.total_timeout = std::chrono::seconds(30);
    label_state st = co_await get_load_state(client, rq.endpoint, rq.db, rq.label, o);
    if (st.unauthorized) co_return label_fate::unauthorized;
    if (st.transport) {
      last = "asking the FE: " + st.transport->message;
    } else if (!st.error.empty()) {
      last = "asking the FE: " + st.error;
    } else {
      last = "the FE says " + st.state;
      if (st.state == "VISIBLE" || st.state == "COMMITTED") co_return label_fate::loaded;
      if (st.state == "ABORTED" || st.state == "UNKNOWN") co_return label_fate::gone;
    }
    if (std::chrono::steady_clock::now() >= deadline) co_return label_fate::waiting_too_long;
    const auto d = backoff_for(policy, std::min(polls, 6));
    spdlog::info(
        "doris: {}: an earlier request with this label is still running ({}); asking "
        "again in {} ms",
        what, last, d.count());
    if (!co_await io::sleep_unless_stopped(d, policy.stop)) co_return label_fate::stopped;
  }
}

}  // namespace

asio::awaitable<labelled_result> load_with_label(http_client& client, stream_load_request rq,
                                                 const retry_policy& policy, std::string what) {
  labelled_result res;
  int failures = 0;
  auto again = [&](std::string why) {
    res.error = std::move(why);
    return ++failures <= policy.retries;
  };
  for (;;) {
    if (failures > 0) {
      const auto d = backoff_for(policy, failures - 1);
      spdlog::warn("doris: {}: {}; trying again in {} ms with the same label", what, res.error,
                   d.count());
      if (!co_await io::sleep_unless_stopped(d, policy.stop)) {
        res.interrupted = true;
        co_return res;
      }
    }
    ++res.attempts;
    load_outcome o = co_await stream_load(client, rq);
    if (o.transport) {
      if (o.transport->retryable() && again(o.describe())) continue;
      res.error = o.describe();
      co_return res;
    }
    if (o.refused_redirect) {
      res.error = o.error;
      co_return res;
    }
    if (o.http_status == 401 || (o.answer && o.answer->unauthorized())) {
      res.unauthorized = true;
      res.error = o.describe();
      co_return res;
    }
    if (!o.answer) {
      if (again(o.describe())) continue;
      co_return res;
    }
    res.answer = o.answer;
    const load_answer& a = *o.answer;
    if (a.already_loaded()) {
      res.ok = res.earlier = true;
      co_return res;
    }
    if (a.label_running()) {
      std::string state;
      const label_fate f = co_await wait_for_label(client, rq, policy, what, state);
      if (f == label_fate::loaded) {
        res.ok = res.earlier = true;
        co_return res;
      }
      if (f == label_fate::stopped) {
        res.interrupted = true;
        co_return res;
      }
      if (f == label_fate::unauthorized) {
        res.unauthorized = true;
        res.error = "the FE refused the credentials";
        co_return res;
      }
      if (f == label_fate::waiting_too_long) {
        res.error = "the label stayed RUNNING (" + state + ")";
        co_return res;
      }
      continue;  // the earlier request ended without loading: load again, same label
    }
    if (a.committed()) {
      res.ok = true;
      co_return res;
    }
    if (a.transient()) {
      if (again(o.describe())) continue;
      co_return res;
    }
    res.error = o.describe();  // bad data, a missing table: no retry helps
    co_return res;
  }
}

}  // namespace uringmig::connectors::doris
