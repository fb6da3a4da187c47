// Finding secrets in free text: redact() for what is printed or logged, scrub_secrets() for
// argv. Both mask the same spans (declared in url.hpp).
#include "codecs/url.hpp"

#include "codecs/ascii.hpp"

#include <algorithm>
#include <span>
#include <string>
#include <vector>

namespace uringmig::codecs {

namespace {

using ascii::is_ident_char;
using ascii::is_space;
constexpr auto ascii_lower = ascii::lower;

constexpr std::string_view mask = "****";

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  const auto tail = s.substr(s.size() - suffix.size());
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (ascii_lower(tail[i]) != suffix[i]) return false;
  }
  return true;
}

bool is_url_token_end(char c) noexcept {
  return is_space(c) || c == '"' || c == '\'' || c == '`';
}

/// A secret's bytes in a text: [begin, end).
struct secret_span {
  std::size_t begin;
  std::size_t end;
};

/// The password of `scheme://user:SECRET@host`, for every "://" in the text.
void find_userinfo_secrets(std::string_view text, std::vector<secret_span>& out) {
  std::size_t pos = 0;
  while (true) {
    const auto sep = text.find("://", pos);
    if (sep == std::string_view::npos) break;
    const std::size_t start = sep + 3;
    std::size_t end = start;
    while (end < text.size() && !is_url_token_end(text[end]))
      ++end;
    const auto token = text.substr(start, end - start);

    // The user info ends at the last '@' before the query, so that unencoded '/' or '@' in a
    // password are still masked. Without '@' there, a password with an unencoded '?' may still
    // precede an '@' later on, as long as no path came first.
    const auto query = token.find_first_of("?#");
    auto at = token.substr(0, query).rfind('@');
    if (at == std::string_view::npos && query != std::string_view::npos &&
        token.substr(0, query).find('/') == std::string_view::npos) {
      at = token.rfind('@');
    }
    std::size_t colon = std::string_view::npos;
    if (at != std::string_view::npos) colon = token.substr(0, at).find(':');

    if (colon != std::string_view::npos && at > colon + 1) {
      out.push_back({start + colon + 1, start + at});
      pos = start + at;  // continue at '@'
    } else {
      pos = start;
    }
  }
}

/// End of a quoted value starting at `open` (the quote), honouring backslash escapes.
std::size_t quoted_end(std::string_view text, std::size_t open) {
  const char q = text[open];
  std::size_t i = open + 1;
  while (i < text.size()) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      i += 2;
      continue;
    }
    if (text[i] == q) return i + 1;
    ++i;
  }
  return text.size();  // unterminated: mask to the end
}

/// `password=SECRET`, `password = 'se cret'`, `?password=SECRET&`, `"password":"SECRET"`.
void find_key_value_secrets(std::string_view text, std::vector<secret_span>& out) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_ident_char(text[i]) || (i > 0 && is_ident_char(text[i - 1]))) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && is_ident_char(text[j]))
      ++j;
    const auto key = text.substr(i, j - i);
    if (!ends_with_ci(key, "password") && !ends_with_ci(key, "passwd")) {
      i = j;
      continue;
    }
    const char before = i > 0 ? text[i - 1] : '\0';
    std::size_t k = j;
    std::size_t value_begin = 0;
    std::size_t value_end = 0;
    if (before == '"' && k < text.size() && text[k] == '"') {  // JSON: "password": "x"
      ++k;
      while (k < text.size() && is_space(text[k]))
        ++k;
      if (k >= text.size() || text[k] != ':') {
        i = j;
        continue;
      }
      ++k;
      while (k < text.size() && is_space(text[k]))
        ++k;
      if (k >= text.size() || text[k] != '"') {
        i = j;
        continue;
      }
      value_begin = k + 1;
      value_end = quoted_end(text, k);
      if (value_end > value_begin && text[value_end - 1] == '"') --value_end;
    } else {
      while (k < text.size() && (text[k] == ' ' || text[k] == '\t'))
        ++k;
      if (k >= text.size() || text[k] != '=') {
        i = j;
        continue;
      }
      ++k;
      if (before == '?' || before == '&') {  // URL query parameter
        value_begin = k;
        value_end = k;
        while (value_end < text.size() && text[value_end] != '&' && text[value_end] != '#' &&
               !is_url_token_end(text[value_end])) {
          ++value_end;
        }
      } else {  // libpq conninfo (or shell / .env style): blanks may follow '='
        while (k < text.size() && (text[k] == ' ' || text[k] == '\t'))
          ++k;
        value_begin = k;
        if (k < text.size() && (text[k] == '\'' || text[k] == '"')) {
          value_end = quoted_end(text, k);
        } else {
          value_end = k;
          while (value_end < text.size() && !is_space(text[value_end]))
            ++value_end;
        }
      }
    }
    if (value_end > value_begin) out.push_back({value_begin, value_end});
    i = std::max(j, value_end);
  }
}

/// Every secret in `text`, sorted, overlapping ones merged.
std::vector<secret_span> find_secrets(std::string_view text) {
  std::vector<secret_span> found;
  find_userinfo_secrets(text, found);
  find_key_value_secrets(text, found);
  std::sort(found.begin(), found.end(),
            [](secret_span a, secret_span b) { return a.begin < b.begin; });
  std::vector<secret_span> merged;
  for (const auto s : found) {
    if (!merged.empty() && s.begin <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, s.end);
    } else {
      merged.push_back(s);
    }
  }
  return merged;
}
}  // namespace

std::string redact(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (const auto s : find_secrets(text)) {
    out.append(text.substr(copied, s.begin - copied));
    out.append(mask);
    copied = s.end;
  }
  out.append(text.substr(copied));
  return out;
}

bool scrub_secrets(std::span<char> text) noexcept {
  try {
    const auto secrets = find_secrets(std::string_view(text.data(), text.size()));
    for (const auto s : secrets)
      std::fill(text.begin() + static_cast<std::ptrdiff_t>(s.begin),
                text.begin() + static_cast<std::ptrdiff_t>(s.end), 'x');
    return !secrets.empty();
  } catch (...) {  // allocation failure: mask everything rather than nothing
    std::fill(text.begin(), text.end(), 'x');
    return true;
  }
}

}  // namespace uringmig::codecs
