#pragma once

// Clients for the double's own tests: a raw blocking socket that shows every
// byte of the exchange, and a thin libcurl easy wrapper.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/doris_double/http.hpp"

namespace uringmig::test::doris_double::testing {

struct raw_response {
  int status = 0;
  std::vector<header> headers;
  std::string body;

  std::string get(std::string_view name) const {
    for (const header& h : headers) {
      if (iequals(h.name, name)) return h.value;
    }
    return {};
  }
};

/// One client connection with blocking reads under a poll timeout.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("connect failed");
    }
  }
  ~raw_client() {
    if (fd_ >= 0) ::close(fd_);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Reads one response (interim 1xx ones too). nullopt on close, reset or timeout.
  std::optional<raw_response> read_response(int timeout_ms = 5000) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(timeout_ms)) return std::nullopt;
    }
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    raw_response r;
    std::size_t eol = head.find("\r\n");
    std::string status_line = head.substr(0, eol);
    if (status_line.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
    r.status = std::atoi(status_line.c_str() + 9);
    while (eol != std::string::npos) {
      std::size_t start = eol + 2;
      eol = head.find("\r\n", start);
      std::string line = head.substr(start, eol == std::string::npos ? eol : eol - start);
      std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      r.headers.push_back({line.substr(0, colon), std::string(trim(line.substr(colon + 1)))});
    }
    if (r.status >= 200) {
      std::size_t length = static_cast<std::size_t>(std::atoll(r.get("Content-Length").c_str()));
      while (buf_.size() < length) {
        if (!fill(timeout_ms)) return std::nullopt;
      }
      r.body = buf_.substr(0, length);
      buf_.erase(0, length);
    }
    return r;
  }

  /// Reads until the peer closes: "eof", "reset" or "timeout".
  std::string wait_closed(int timeout_ms = 5000) {
    while (true) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return "timeout";
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n == 0) return "eof";
      if (n < 0) return errno == ECONNRESET ? "reset" : "error";
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }

 private:
  bool fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
};

inline std::string basic(std::string_view user, std::string_view password) {
  return "Basic " + base64_encode(std::string(user) + ":" + std::string(password));
}

/// A request head with CRLFs; `headers` are "Name: value" lines.
inline std::string request(std::string_view method, std::string_view target,
                           const std::vector<std::string>& headers) {
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  out += "Host: 127.0.0.1\r\n";
  for (const std::string& h : headers)
    out += h + "\r\n";
  return out + "\r\n";
}

inline std::string chunked(std::string_view body, std::size_t piece) {
  std::string out;
  static constexpr std::string_view hex = "0123456789abcdef";
  for (std::size_t i = 0; i < body.size(); i += piece) {
    std::string_view part = body.substr(i, piece);
    std::string size;
    for (std::size_t n = part.size(); n > 0; n /= 16)
      size.insert(size.begin(), hex[n % 16]);
    out += size + "\r\n" + std::string(part) + "\r\n";
  }
  return out + "0\r\n\r\n";
}

/// The value of a top-level JSON member as text (strings unquoted): enough
/// for the flat answers of the double.
inline std::string json_field(const std::string& json, const std::string& key) {
  std::string needle = "\"" + key + "\":";
  std::size_t at = json.find(needle);
  if (at == std::string::npos) return "<absent>";
  at += needle.size();
  while (at < json.size() && json[at] == ' ')
    ++at;
  if (at < json.size() && json[at] == '"') {
    std::size_t end = json.find('"', at + 1);
    return json.substr(at + 1, end - at - 1);
  }
  std::size_t end = json.find_first_of(",\n}", at);
  return json.substr(at, end - at);
}

struct curl_result {
  CURLcode code = CURLE_OK;
  long http_status = 0;
  std::string body;
  std::string redirect_url;
  std::string error;
};

struct curl_request {
  std::string url;
  std::vector<std::string> headers;
  std::string body;
  bool chunked = false;  // upload with a read callback, no length
  std::string userpwd;   // CURLOPT_USERPWD when set
  bool follow = false;   // CURLOPT_FOLLOWLOCATION
  bool unrestricted_auth = false;
  long expect_timeout_ms = 10000;
  std::string method = "PUT";
};

/// One blocking libcurl easy transfer.
inline curl_result curl_run(const curl_request& rq) {
  struct upload {
    std::string_view data;
    std::size_t pos = 0;
  } up{rq.body};
  curl_result res;
  CURL* c = curl_easy_init();
  curl_slist* list = nullptr;
  for (const std::string& h : rq.headers)
    list = curl_slist_append(list, h.c_str());
  if (rq.chunked) list = curl_slist_append(list, "Transfer-Encoding: chunked");
  char err[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_URL, rq.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, rq.expect_timeout_ms);
  if (!rq.userpwd.empty()) curl_easy_setopt(c, CURLOPT_USERPWD, rq.userpwd.c_str());
  if (rq.follow) curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  if (rq.unrestricted_auth) curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 1L);
  if (rq.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_read_callback read = [](char* dst, size_t size, size_t n, void* ud) -> size_t {
      auto* u = static_cast<upload*>(ud);
      std::size_t take = std::min(size * n, u->data.size() - u->pos);
      std::memcpy(dst, u->data.data() + u->pos, take);
      u->pos += take;
      return take;
    };
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read);
    // Rewinding lets libcurl resend the body after a redirect.
    curl_seek_callback seek = [](void* ud, curl_off_t offset, int origin) -> int {
      if (origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
      static_cast<upload*>(ud)->pos = static_cast<std::size_t>(offset);
      return CURL_SEEKFUNC_OK;
    };
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &up);
    if (!rq.chunked) {
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(rq.body.size()));
    }
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq.method.c_str());
  }
  curl_write_callback write = [](char* p, size_t size, size_t n, void* ud) -> size_t {
    static_cast<std::string*>(ud)->append(p, size * n);
    return size * n;
  };
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &res.body);
  res.code = curl_easy_perform(c);
  res.error = err;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.http_status);
  char* redirect = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK && redirect != nullptr) {
    res.redirect_url = redirect;
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return res;
}

}  // namespace uringmig::test::doris_double::testing
