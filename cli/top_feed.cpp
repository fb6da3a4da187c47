#include "cli/top_feed.hpp"

#include "codecs/json_reader.hpp"
#include "engine/core/job.hpp"
#include "engine/core/state_store.hpp"
#include "engine/core/status.hpp"
#include "io/http_fetch.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace uringmig::cli {

namespace {

namespace json = codecs::json;

constexpr std::size_t log_tail_bytes = 32 * 1024;  // what a first look at the log file reads

class state_feed final : public top_feed {
 public:
  /// `shared`: the store is a shared state database (its runs' locks say whether it is live).
  state_feed(std::filesystem::path dir, engine::state_store store, bool shared = false)
      : dir_(std::move(dir)), store_(std::move(store)), shared_(shared) {}

  top_snapshot poll(std::vector<std::string>& log) override {
    std::ostringstream doc;
    const auto st = store_.status_snapshot();
    engine::print_status_json(doc, st, dir_,
                              shared_ ? st.live_runs > 0 : engine::state_store::in_use(dir_));
    std::string error;
    auto s = parse_status_document(doc.str(), error);
    if (!s) throw std::runtime_error(error);
    read_log(log);
    return std::move(*s);
  }
  std::string label() const override {
    return shared_ ? store_.where() : "state directory " + dir_.string();
  }
  bool has_actions() const override { return false; }
  std::string act(const std::string&) override {
    return "pause, resume and switchover need the job's API: uringmig top --http URL";
  }
  std::chrono::milliseconds interval() const override { return std::chrono::seconds(1); }

 private:
  /// New complete lines of `<dir>/uringmig.log` since the last call.
  void read_log(std::vector<std::string>& log) {
    std::ifstream in(dir_ / "uringmig.log", std::ios::binary);
    if (!in) return;
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::uint64_t>(in.tellg());
    bool skip_partial = false;
    if (!offset_ || size < *offset_) {  // first look, or the file was replaced
      offset_ = size > log_tail_bytes ? size - log_tail_bytes : 0;
      skip_partial = *offset_ > 0;
    }
    in.seekg(static_cast<std::streamoff>(*offset_));
    std::string chunk(size - *offset_, '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<std::size_t>(in.gcount()));
    const auto end = chunk.rfind('\n');
    if (end == std::string::npos) return;
    *offset_ += end + 1;
    std::size_t at = 0;
    if (skip_partial) at = chunk.find('\n') + 1;
    while (at <= end) {
      const auto nl = chunk.find('\n', at);
      if (auto line = format_log_json(std::string_view(chunk).substr(at, nl - at)))
        log.push_back(std::move(*line));
      at = nl + 1;
    }
  }

  std::filesystem::path dir_;
  engine::state_store store_;
  bool shared_ = false;
  std::optional<std::uint64_t> offset_;
};

class api_feed final : public top_feed {
 public:
  api_feed(std::string host, std::string port, std::string token, std::optional<io::http_tls> tls)
      : host_(std::move(host)),
        port_(std::move(port)),
        token_(std::move(token)),
        tls_(std::move(tls)) {}

  top_snapshot poll(std::vector<std::string>& log) override {
    io::http_answer a;
    try {
      a = get("/api/v1/status");
    } catch (const io::http_tls_error&) {
      throw;
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string(e.what()) +
                               " (is the job running, started with --http on that address?)");
    }
    if (a.status != 200) {
      throw std::runtime_error(label() + "/api/v1/status answered HTTP " +
                               std::to_string(a.status));
    }
    std::string error;
    auto s = parse_status_document(a.body, error);
    if (!s) throw std::runtime_error(label() + "/api/v1/status: " + error);
    read_log(log);
    return std::move(*s);
  }
  std::string label() const override {
    return (tls_ ? "https://" : "http://") + host_ + ":" + port_;
  }
  bool has_actions() const override { return !token_.empty(); }
  std::string act(const std::string& action) override {
    if (token_.empty())
      return action + " needs a token: --token or UM_HTTP_TOKEN (the job's [http] token)";
    try {
      const auto a =
          io::http_fetch(host_, port_, "POST", "/api/v1/" + action, token_, timeout, tls_);
      if (a.status / 100 == 2) return action + ": accepted";
      if (a.status == 401 || a.status == 403)
        return action + ": the job refused the token (HTTP " + std::to_string(a.status) + ")";
      return action + ": HTTP " + std::to_string(a.status) + " " + first_line(a.body);
    } catch (const std::runtime_error& e) {
      return action + ": " + e.what();
    }
  }
  std::chrono::milliseconds interval() const override { return std::chrono::milliseconds(500); }

 private:
  static constexpr std::chrono::milliseconds timeout{3000};

  static std::string first_line(const std::string& body) {
    auto line = body.substr(0, body.find('\n'));
    if (line.size() > 200) line.resize(200);
    return line;
  }

  io::http_answer get(const std::string& target) {
    return io::http_fetch(host_, port_, "GET", target, token_, timeout, tls_);
  }

  /// `GET /api/v1/log?since=N`: the lines after sequence number N. A log the API does not
  /// serve leaves the log pane empty; it never stops the dashboard.
  void read_log(std::vector<std::string>& log) {
    io::http_answer a;
    try {
      a = get("/api/v1/log?since=" + std::to_string(since_));
    } catch (const std::runtime_error&) {
      return;
    }
    if (a.status != 200) return;
    std::optional<std::vector<json::value>> items;
    if (auto doc = json::read_object(a.body)) {
      if (const auto* next = doc.value->find("next"); next && next->kind == json::kind::number)
        since_ = std::stoll(next->text);
      if (const auto* lines = doc.value->find("lines"); lines != nullptr)
        items = json::read_array(lines->text);
    } else {
      items = json::read_array(a.body);
    }
    if (!items) return;
    for (const auto& item : *items) {
      if (item.kind != json::kind::object) continue;
      if (auto line = format_log_json(item.text)) log.push_back(std::move(*line));
      if (auto o = json::read_object(item.text)) {
        if (const auto* seq = o.value->find("seq"); seq && seq->kind == json::kind::number)
          since_ = std::max(since_, std::stoll(seq->text));
      }
    }
  }

  std::string host_;
  std::string port_;
  std::string token_;
  std::optional<io::http_tls> tls_;
  long long since_ = 0;
};

}  // namespace

bool split_http_url(const std::string& url, std::string& host, std::string& port, bool* https) {
  std::string_view rest = url;
  const bool secure = rest.substr(0, 8) == "https://";
  if (https != nullptr) *https = secure;
  if (secure) rest.remove_prefix(8);
  if (rest.substr(0, 7) == "http://") rest.remove_prefix(7);
  while (!rest.empty() && rest.back() == '/')
    rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos || rest.empty()) return false;
  std::size_t colon = 0;
  if (rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      return false;
    host = std::string(rest.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    host = std::string(rest.substr(0, colon));
    if (host.find(':') != std::string::npos) return false;
  }
  port = std::string(rest.substr(colon + 1));
  if (port.empty() || port.size() > 5) return false;
  for (const char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoi(port) > 0 && std::stoi(port) < 65536;
}

std::unique_ptr<top_feed> state_dir_feed(const std::filesystem::path& dir) {
  auto store = engine::state_store::open_existing(dir);
  if (!store) {
    throw engine::usage_error("no job state in " + dir.string() +
                              " (start a job with --state-dir " + dir.string() +
                              ", or watch it with --http URL)");
  }
  return std::make_unique<state_feed>(dir, std::move(*store));
}

std::unique_ptr<top_feed> state_url_feed(const std::filesystem::path& dir, const std::string& url,
                                         const std::string& job) {
  auto store = engine::state_store::open_existing(engine::state_location{dir, url, job});
  if (!store) {
    throw engine::usage_error(
        "no job " + job +
        " in the state database (check --job, or start the job with this --state-url)");
  }
  return std::make_unique<state_feed>(dir, std::move(*store), true);
}

std::unique_ptr<top_feed> http_feed(const std::string& url, std::string token,
                                    const std::string& tls_ca) {
  std::string host;
  std::string port;
  bool https = false;
  if (!split_http_url(url, host, port, &https)) {
    throw engine::usage_error("--http '" + url +
                              "' is not an address to watch (examples: 127.0.0.1:7654, "
                              "http://db-host:7654, https://db-host:7654)");
  }
  std::optional<io::http_tls> tls;
  if (https) {
    tls = io::http_tls{tls_ca};
  } else if (!tls_ca.empty()) {
    throw engine::usage_error("--tls-ca goes with an https:// address: --http https://" + host +
                              ":" + port);
  }
  std::error_code ec;
  if (!tls_ca.empty() && !std::filesystem::is_regular_file(tls_ca, ec))
    throw engine::usage_error("--tls-ca " + tls_ca + ": no such file (the CA's PEM certificate)");
  return std::make_unique<api_feed>(std::move(host), std::move(port), std::move(token),
                                    std::move(tls));
}

}  // namespace uringmig::cli
