#include "engine/core/observe/service.hpp"

#include "codecs/json_text.hpp"
#include "codecs/url.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/observe/dashboard_page.hpp"
#include "engine/core/observe/hub.hpp"
#include "engine/core/observe/log_ring.hpp"
#include "engine/core/observe/snapshot.hpp"
#include "engine/core/settings.hpp"
#include "engine/core/state_store.hpp"
#include "io/http_server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <system_error>
#include <vector>

namespace uringmig::engine::observe {

namespace {

constexpr std::string_view ws_path = "/api/v1/ws";
constexpr std::size_t max_log_lines = 500;
// The state store's mark while paused, for `uringmig status` (and `top` without --http).
constexpr std::string_view paused_mark = http_paused_mark;

/// Sets or clears the paused mark in the job's state store, when there is one yet.
void mark_paused(const std::filesystem::path& state_dir, bool paused) {
  try {
    auto st = state_store::open_shared(state_dir);
    if (!st) return;
    if (paused) {
      st->put(paused_mark, "true");
    } else if (st->get(paused_mark)) {
      st->erase(paused_mark);
    }
  } catch (const std::exception& e) {
    spdlog::warn("cannot record the pause in the state store: {}", e.what());
  }
}

io::http_response json(int status, std::string body) {
  return {status, "application/json", std::move(body)};
}

io::http_response error(int status, std::string_view message) {
  return json(status, "{\"error\":" + codecs::json_string(message) + "}");
}

/// Compares without an early exit: the time taken says nothing about the token.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

std::string list_json(const std::vector<std::string>& v) {
  std::string j = "[";
  for (std::size_t i = 0; i < v.size(); ++i)
    j += (i > 0 ? "," : "") + codecs::json_string(v[i]);
  return j + "]";
}

/// GET /api/v1/config: the effective settings as the job runs them, secrets not shown.
std::string config_json(const job_spec& spec) {
  std::string settings = "{";
  bool first = true;
  for (const auto& [name, value] : spec.settings) {
    if (!first) settings += ',';
    first = false;
    settings += codecs::json_string(name) + ":" +
                codecs::json_string(is_secret_setting(name) ? secret_shown : value);
  }
  settings += "}";
  return fmt::format(
      "{{\"command\":{},\"preset\":{},\"source\":{},\"target\":{},\"state_dir\":{},"
      "\"tables\":{},\"exclude\":{},\"jobs\":{},\"index_jobs\":{},\"follow\":{},\"dry_run\":{},"
      "\"restart\":{},\"max_runtime_seconds\":{},\"settings\":{}}}",
      codecs::json_string(spec.command), codecs::json_string(spec.preset),
      codecs::json_string(spec.source ? codecs::redacted_url(*spec.source) : ""),
      codecs::json_string(spec.target ? codecs::redacted_url(*spec.target) : ""),
      codecs::json_string(spec.state_dir.string()), list_json(spec.tables), list_json(spec.exclude),
      spec.jobs, spec.index_jobs, spec.follow ? "true" : "false", spec.dry_run ? "true" : "false",
      spec.restart ? "true" : "false", spec.max_runtime.count(), settings);
}

std::string log_json(std::uint64_t since) {
  const auto lines = the_log().since(since, max_log_lines);
  std::string j = "{\"lines\":[";
  std::uint64_t next = since;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& l = lines[i];
    if (i > 0) j += ',';
    j += fmt::format("{{\"seq\":{},\"ts\":{},\"level\":{},\"msg\":{}}}", l.seq,
                     codecs::json_string(l.ts), codecs::json_string(l.level),
                     codecs::json_string(l.msg));
    next = l.seq;
  }
  return j + fmt::format("],\"next\":{}}}", next);
}

/// The value of `name` in a query string ("since=3&x=y"); nullopt when absent.
std::optional<std::string_view> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto part = query.substr(0, amp);
    const auto eq = part.find('=');
    if (part.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace

listen_address parse_listen(const std::string& text, const std::string& what) {
  const auto bad = [&](std::string_view why) {
    return usage_error(
        fmt::format("{} '{}': {} (write HOST:PORT, e.g. 127.0.0.1:7654)", what, text, why));
  };
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw bad("no port");
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535)
    throw bad("the port is not a number from 0 to 65535");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  listen_address out{host, static_cast<std::uint16_t>(port), false};
  out.loopback = host == "::1" || host.rfind("127.", 0) == 0;
  if (host.find_first_not_of("0123456789.:abcdefABCDEF") != std::string::npos)
    throw bad("the host is not an IP address");
  return out;
}

struct service::impl {
  impl(const job_spec& s, actions a, std::string tok, const state_location& at)
      : spec(s), act(std::move(a)), token(std::move(tok)), view(s.state_dir, at.url, at.job) {}

  job_spec spec;
  actions act;
  std::string token;
  snapshot_builder view;
  std::string last_phase;
  std::unique_ptr<io::http_server> server;

  io::http_response action(const io::http_request& r, std::string_view name) {
    if (token.empty()) return error(401, "actions are off: this job has no [http] token");
    const std::string_view bearer = "Bearer ";
    const std::string_view auth = r.authorization;
    if (auth.substr(0, bearer.size()) != bearer || !same_secret(auth.substr(bearer.size()), token))
      return error(401, "missing or wrong token (send Authorization: Bearer TOKEN)");
    if (name == "pause") {
      the_hub().pause();
      mark_paused(spec.state_dir, true);
      spdlog::info("paused over HTTP: workers stop after their current chunk or transaction");
    } else if (name == "resume") {
      the_hub().resume();
      mark_paused(spec.state_dir, false);
      spdlog::info("resumed over HTTP");
    } else if (name == "stop") {
      if (!act.stop) return error(409, "this command cannot be stopped over HTTP");
      spdlog::info("stop requested over HTTP");
      the_hub().set_phase("stopping");
      act.stop();
      server->notify();
      return json(202, "{\"stopping\":true}");
    } else {
      if (!act.switchover) return error(409, "this job does not follow: nothing to switch over");
      const std::string why = act.switchover();
      if (!why.empty()) return error(409, why);
      return json(202, "{\"switchover\":\"started\"}");
    }
    server->notify();
    return json(200, fmt::format("{{\"paused\":{}}}", the_hub().paused() ? "true" : "false"));
  }

  io::http_response handle(const io::http_request& r) {
    const auto q = r.target.find('?');
    const std::string_view path = std::string_view(r.target).substr(0, q);
    const std::string_view query =
        q == std::string::npos ? std::string_view() : std::string_view(r.target).substr(q + 1);
    static constexpr std::string_view action_names[] = {"pause", "resume", "switchover", "stop"};
    for (const auto name : action_names) {
      if (path != fmt::format("/api/v1/{}", name)) continue;
      if (r.method != "POST") return error(405, "use POST");
      return action(r, name);
    }
    const bool get = r.method == "GET";
    const auto only_get = [&](auto make) { return get ? make() : error(405, "use GET"); };
    if (path == "/" || path == "/index.html")
      return only_get([] {
        return io::http_response{200, "text/html; charset=utf-8", std::string(dashboard_page())};
      });
    if (path == "/api/v1/status") return only_get([&] { return json(200, view.status()); });
    if (path == "/api/v1/tables") return only_get([&] { return json(200, view.tables()); });
    if (path == "/api/v1/config") return only_get([&] { return json(200, config_json(spec)); });
    if (path == "/metrics")
      return only_get([&] {
        return io::http_response{200, "text/plain; version=0.0.4; charset=utf-8", view.metrics()};
      });
    if (path == "/api/v1/log") {
      std::uint64_t since = 0;
      if (auto v = query_value(query, "since")) {
        const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), since);
        if (ec != std::errc() || p != v->data() + v->size())
          return error(400, "since: a line number (the \"next\" of the last answer)");
      }
      return only_get([&] { return json(200, log_json(since)); });
    }
    if (path == ws_path) return error(400, "a WebSocket: connect with an Upgrade request");
    return error(404,
                 "no such path (see /api/v1/status, /api/v1/tables, /api/v1/config, "
                 "/api/v1/log, /api/v1/ws, /metrics)");
  }

  bool phase_changed() {
    auto now = view.phase();
    if (now == last_phase) return false;
    last_phase = std::move(now);
    return true;
  }
};

service::service(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

service::~service() {
  if (!impl_ || !impl_->server) return;
  impl_->server->stop();
  // A pause does not outlive the process.
  if (the_hub().paused()) mark_paused(impl_->spec.state_dir, false);
}

std::uint16_t service::port() const {
  return impl_->server->port();
}

void service::finished(int exit_code) {
  if (the_hub().phase().empty()) the_hub().set_phase(exit_code == 0 ? "done" : "failed");
  impl_->server->notify();
}

std::unique_ptr<service> service::start(const job_spec& spec, actions a) {
  const std::string listen = setting_or_default(spec.settings, "http.listen");
  if (listen.empty()) return nullptr;
  const auto addr = parse_listen(listen, "--http");
  std::string token = setting_or_default(spec.settings, "http.token");
  if (!addr.loopback && token.empty())
    throw usage_error(
        fmt::format("--http {}: listening beyond this host needs a token: set [http] token = "
                    "\"${{UM_HTTP_TOKEN}}\" in the config (or listen on 127.0.0.1)",
                    listen));
  io::http_server_options o;
  o.address = addr.host;
  o.port = addr.port;
  o.ws_path = std::string(ws_path);
  o.tls_cert = setting_or_default(spec.settings, "http.tls_cert");
  o.tls_key = setting_or_default(spec.settings, "http.tls_key");
  if (o.tls_cert.empty() != o.tls_key.empty())
    throw usage_error("[http] tls_cert and tls_key go together: set both, or neither");
  auto i = std::make_unique<impl>(spec, std::move(a), std::move(token), state_location_of(spec));
  auto* self = i.get();
  try {
    i->server = std::make_unique<io::http_server>(
        o, [self](const io::http_request& r) { return self->handle(r); },
        [self] { return self->view.status(); }, [self] { return self->phase_changed(); });
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::address_in_use)
      throw usage_error(fmt::format(
          "--http {}: the address is in use (another uringmig or server listens there): pick "
          "another port",
          listen));
    throw usage_error(fmt::format("--http {}: cannot listen there: {}", listen, e.what()));
  } catch (const std::runtime_error& e) {
    throw usage_error(fmt::format("--http {}: {}", listen, e.what()));
  }
  i->server->start();
  spdlog::info("serving the HTTP API on {}://{}:{}/ (WebSocket {}, metrics /metrics)",
               o.tls_cert.empty() ? "http" : "https", listen.substr(0, listen.rfind(':')),
               i->server->port(), ws_path);
  return std::unique_ptr<service>(new service(std::move(i)));
}

}  // namespace uringmig::engine::observe
