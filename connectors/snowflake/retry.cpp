#include "connectors/snowflake/retry.hpp"

#include "codecs/json_reader.hpp"
#include "codecs/sql_text.hpp"

#include <algorithm>
#include <charconv>

namespace uringmig::connectors::snowflake {

namespace {

/// Snowflake's own words from an error body (`message`), short and printable; empty if none.
std::string server_message(const http::http_response& r) {
  const auto o = codecs::json::read_object(r.body);
  if (!o) return {};
  const codecs::json::value* m = o.value->find("message");
  if (m == nullptr || m->kind != codecs::json::kind::string) return {};
  std::string text = m->text.substr(0, 300);
  return codecs::printable(text);
}

std::string with_server_message(std::string line, const http::http_response& r) {
  const std::string m = server_message(r);
  if (!m.empty()) line += ": " + m;
  return line;
}

}  // namespace

std::chrono::milliseconds backoff(const retry_policy& p, int attempt, double jitter,
                                  const std::string* retry_after) {
  const int shift = std::clamp(attempt, 0, 20);
  const auto step = std::min<std::int64_t>(p.first.count() << shift, p.max.count());
  const double j = std::clamp(jitter, 0.0, 1.0);
  auto wait = std::chrono::milliseconds(static_cast<std::int64_t>(step * (0.5 + j / 2)));
  if (retry_after != nullptr) {
    std::int64_t s = 0;
    const char* b = retry_after->data();
    const char* e = b + retry_after->size();
    if (const auto [ptr, ec] = std::from_chars(b, e, s); ec == std::errc{} && ptr == e && s >= 0)
      wait = std::max(wait, std::min(std::chrono::milliseconds(s * 1000), p.max));
  }
  return wait;
}

decision decide(const http::http_response& r, std::string_view what, int attempt, bool renewed,
                const retry_policy& p, double jitter) {
  decision d;
  const bool attempts_left = attempt + 1 < p.max_attempts;
  const std::string doing(what);
  if (r.error) {
    if (r.error->retryable() && attempts_left) {
      d.step = next_step::retry;
      d.wait = backoff(p, attempt, jitter, nullptr);
      return d;
    }
    d.message = "Snowflake: " + doing + ": no answer (" + r.error->message + ")" +
                (r.error->retryable() ? " after " + std::to_string(attempt + 1) + " attempts"
                                      : std::string());
    return d;
  }
  switch (r.status) {
    case 200:
    case 202:
    case 422:
      d.step = next_step::use;
      return d;
    case 401:
      if (!renewed) {
        d.step = next_step::renew;
        return d;
      }
      d.message = with_server_message(
          "Snowflake: " + doing +
              ": the credentials were refused (HTTP 401; check the user, the account and "
              "that the key's fingerprint is the user's RSA_PUBLIC_KEY_FP)",
          r);
      return d;
    case 429:
    case 503:
    case 504:
      if (attempts_left) {
        d.step = next_step::retry;
        d.wait = backoff(p, attempt, jitter, r.header("retry-after"));
        return d;
      }
      d.message = with_server_message("Snowflake: " + doing + ": HTTP " + std::to_string(r.status) +
                                          " after " + std::to_string(attempt + 1) + " attempts",
                                      r);
      return d;
    case 403:
      d.message = with_server_message(
          "Snowflake: " + doing + ": forbidden (HTTP 403; is the SQL API enabled for the account?)",
          r);
      return d;
    case 408:
      d.message =
          with_server_message("Snowflake: " + doing + ": the statement timed out (HTTP 408)", r);
      return d;
    default:
      d.message =
          with_server_message("Snowflake: " + doing + ": HTTP " + std::to_string(r.status), r);
      return d;
  }
}

}  // namespace uringmig::connectors::snowflake
