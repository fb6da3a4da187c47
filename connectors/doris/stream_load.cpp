#include "connectors/doris/stream_load.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include "codecs/json_text.hpp"
#include "codecs/url.hpp"
#include "connectors/doris/json_reader.hpp"

#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace uringmig::connectors::doris {

namespace asio = boost::asio;

namespace {

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;  // `b` is lower case
  }
  return true;
}

/// scheme://host:port of a URL without userinfo, for messages.
std::string origin(std::string_view url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "(unknown)";
  const std::size_t end = url.find_first_of("/?#", scheme + 3);
  std::string out(url.substr(0, end));
  return codecs::redact(out);  // errs on the safe side should userinfo ever be there
}

bool is_redirect(int status) {
  return status == 307 || status == 308;  // the method and body must be kept
}

void check_endpoint(const load_endpoint& e) {
  if (e.base_url.empty()) throw std::invalid_argument("doris: no FE or BE address");
  if (e.user.empty()) throw std::invalid_argument("doris: no user name");
}

struct curl_url_deleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct curl_free_deleter {
  void operator()(char* p) const { curl_free(p); }
};

/// Scheme, host (lower case) and port of an absolute URL; nullopt when it is none.
struct url_origin {
  std::string scheme;
  std::string host;
  std::string port;
  bool operator==(const url_origin&) const = default;
};

std::optional<url_origin> origin_of(std::string_view url) {
  std::unique_ptr<CURLU, curl_url_deleter> u(curl_url());
  if (!u) return std::nullopt;
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return std::nullopt;
  auto part = [&](CURLUPart what, unsigned flags) -> std::optional<std::string> {
    char* raw = nullptr;
    if (curl_url_get(u.get(), what, &raw, flags) != CURLUE_OK) return std::nullopt;
    std::unique_ptr<char, curl_free_deleter> p(raw);
    return std::string(p.get());
  };
  auto scheme = part(CURLUPART_SCHEME, 0);
  auto host = part(CURLUPART_HOST, 0);
  auto port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!scheme || !host || !port) return std::nullopt;
  url_origin o{*scheme, *host, *port};
  for (char& c : o.host)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return o;
}

/// Sends `h`, follows 307s by hand (only to nodes trusted with the credentials), reads the
/// answer.
asio::awaitable<load_outcome> exchange(http_client& client, const load_endpoint& ep, http_request h,
                                       int max_redirects) {
  load_outcome out;
  for (;;) {
    http_response r = co_await client.request(h);
    out.http_status = r.status;
    out.served_by = origin(h.url);
    out.timing = r.timing;
    out.body_bytes_sent = r.body_bytes_sent;
    if (r.error) {
      out.transport = std::move(r.error);
      co_return out;
    }
    if (!is_redirect(r.status)) {
      out.body = std::move(r.body);
      break;
    }
    const std::string* location = r.header("location");
    if (location == nullptr) {
      out.error = "HTTP " + std::to_string(r.status) + " from " + out.served_by +
                  " without a Location header";
      co_return out;
    }
    if (out.redirects >= max_redirects) {
      out.error = "more than " + std::to_string(max_redirects) + " redirects";
      co_return out;
    }
    // The FE's Location carries user:password in clear: never log it.
    std::optional<std::string> next = redirect_target(h.url, *location);
    if (!next) {
      out.error = "HTTP " + std::to_string(r.status) + " from " + out.served_by +
                  " to a location that is not an http URL";
      co_return out;
    }
    // Credentials go only where the user sent them: the FE and its BEs.
    if (std::string refusal = credential_refusal(ep, *next); !refusal.empty()) {
      out.error = out.served_by + " redirected the request to " + origin(*next) + ", " + refusal;
      out.refused_redirect = true;
      co_return out;
    }
    ++out.redirects;
    spdlog::debug("doris: {} redirected the request to {}", out.served_by, origin(*next));
    if (h.stream != nullptr) {
      // The stream went to the FE's connection: the caller sends again.
      out.redirect_to = std::move(*next);
      co_return out;
    }
    h.url = std::move(*next);
  }
  if (out.http_status == 401) {
    out.error = "HTTP 401 from " + out.served_by + ": wrong user or password";
  } else if (out.http_status != 200) {
    out.error = "HTTP " + std::to_string(out.http_status) + " from " + out.served_by;
  }
  if (!out.body.empty()) {
    load_answer_result parsed = parse_load_answer(out.body);
    if (parsed) {
      out.answer = std::move(*parsed.value);
    } else if (out.error.empty()) {
      out.error = "unreadable answer from " + out.served_by + ": " + parsed.error;
    }
  } else if (out.error.empty()) {
    out.error = "empty answer from " + out.served_by;
  }
  co_return out;
}

}  // namespace

std::string base_url(const codecs::host_port& hp, bool tls) {
  const bool v6 = hp.host.find(':') != std::string::npos && hp.host.front() != '[';
  std::string host = v6 ? "[" + hp.host + "]" : hp.host;
  return (tls ? "https://" : "http://") + host + ":" + std::to_string(hp.port);
}

std::string path_segment(std::string_view s) {
  return codecs::percent_encode(s);
}

std::string credential_refusal(const load_endpoint& e, std::string_view url) {
  const std::optional<url_origin> to = origin_of(url);
  const std::optional<url_origin> from = origin_of(e.base_url);
  if (!to || !from) return "not a URL we can check: credentials not sent";
  if (from->scheme == "https" && to->scheme != "https")
    return "plain http while the FE was reached over https: credentials not sent in clear";
  auto same_node = [&](const std::string& base) {
    const std::optional<url_origin> o = origin_of(base);
    return o && o->host == to->host && o->port == to->port;
  };
  if (same_node(e.base_url)) return {};
  for (const std::string& t : e.trusted)
    if (same_node(t)) return {};
  return "which is neither the FE nor a BE that the FE lists or the user named: credentials not "
         "sent there (if that BE is yours, name it in be= or [doris] trusted_bes)";
}

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 128) return false;
  for (char c : label) {
    if (!(unreserved(c) && c != '.' && c != '~') && c != ':') return false;
  }
  return true;
}

std::optional<std::string> redirect_target(std::string_view current, std::string_view location) {
  std::unique_ptr<CURLU, curl_url_deleter> u(curl_url());
  if (!u) return std::nullopt;
  const std::string base(current);
  const std::string loc(location);
  if (curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK) return std::nullopt;
  // A relative Location resolves against the current URL.
  if (curl_url_set(u.get(), CURLUPART_URL, loc.c_str(), 0) != CURLUE_OK) return std::nullopt;
  char* raw_scheme = nullptr;
  if (curl_url_get(u.get(), CURLUPART_SCHEME, &raw_scheme, 0) != CURLUE_OK) return std::nullopt;
  std::unique_ptr<char, curl_free_deleter> scheme(raw_scheme);
  const std::string_view s = scheme.get();
  if (s != "http" && s != "https") return std::nullopt;
  curl_url_set(u.get(), CURLUPART_USER, nullptr, 0);
  curl_url_set(u.get(), CURLUPART_PASSWORD, nullptr, 0);
  curl_url_set(u.get(), CURLUPART_OPTIONS, nullptr, 0);
  char* raw = nullptr;
  if (curl_url_get(u.get(), CURLUPART_URL, &raw, 0) != CURLUE_OK) return std::nullopt;
  std::unique_ptr<char, curl_free_deleter> out(raw);
  return std::string(out.get());
}

const std::string& be_rotation::next() {
  if (urls_.empty()) throw std::logic_error("doris: no BE to choose from");
  return urls_[next_.fetch_add(1, std::memory_order_relaxed) % urls_.size()];
}

bool load_outcome::loaded() const {
  return !transport && !redirect_to && error.empty() && answer &&
         (answer->committed() || answer->already_loaded());
}

std::string load_outcome::describe() const {
  if (transport) {
    return "no answer from " + served_by + " (libcurl " + std::to_string(transport->code) +
           "): " + transport->message;
  }
  std::string out = error;
  if (answer) out += (out.empty() ? "" : "; ") + answer->summary();
  return codecs::redact(out);
}

asio::awaitable<load_outcome> stream_load(http_client& client, stream_load_request rq) {
  check_endpoint(rq.endpoint);
  if (!rq.label.empty() && !valid_label(rq.label))
    throw std::invalid_argument("doris: label '" + rq.label +
                                "' does not match ^[-_A-Za-z0-9:]{1,128}$");
  http_request h;
  h.method = http_method::put;
  h.url = !rq.url.empty() ? std::move(rq.url)
                          : rq.endpoint.base_url + "/api/" + path_segment(rq.db) + "/" +
                                path_segment(rq.table) + "/_stream_load";
  if (!rq.label.empty()) h.headers.emplace_back("label", rq.label);
  for (auto& kv : rq.headers) {
    if (iequals(kv.first, "authorization"))
      throw std::invalid_argument("doris: pass credentials in load_endpoint, not as a header");
    h.headers.push_back(std::move(kv));
  }
  h.user = rq.endpoint.user;
  h.password = rq.endpoint.password;
  h.body = rq.body;
  h.stream = rq.stream;
  h.on_body_wanted = std::move(rq.on_body_wanted);
  h.options = rq.options;
  h.options.expect_continue = true;  // the FE refuses a load without it
  load_outcome out = co_await exchange(client, rq.endpoint, std::move(h), rq.max_redirects);
  co_return out;
}

asio::awaitable<load_outcome> stream_load_2pc(http_client& client, two_phase_request rq) {
  check_endpoint(rq.endpoint);
  http_request h;
  h.method = http_method::put;
  h.url = rq.endpoint.base_url + "/api/" + path_segment(rq.db) + "/_stream_load_2pc";
  if (rq.txn_id >= 0) {
    h.headers.emplace_back("txn_id", std::to_string(rq.txn_id));
  } else if (valid_label(rq.label)) {
    h.headers.emplace_back("label", rq.label);
  } else {
    throw std::invalid_argument("doris: 2PC needs a txn_id or a valid label");
  }
  h.headers.emplace_back("txn_operation", rq.commit ? "commit" : "abort");
  h.user = rq.endpoint.user;
  h.password = rq.endpoint.password;
  h.options = rq.options;
  h.options.expect_continue = false;  // no body
  load_outcome out = co_await exchange(client, rq.endpoint, std::move(h), rq.max_redirects);
  co_return out;
}

namespace {

/// A GET to the FE itself (never redirected), answered with `{"msg","code","data"}`.
struct fe_answer {
  std::optional<transport_error> transport;
  int http_status = 0;
  bool unauthorized = false;
  std::optional<json::object> body;
  std::string error;
};

/// Sends `h` (its method, headers, body and options set) to the FE at `path`, with the FE's
/// credentials and without `Expect: 100-continue`.
asio::awaitable<fe_answer> fe_call(http_client& client, const load_endpoint& fe,
                                   const std::string& path, http_request h) {
  check_endpoint(fe);
  h.url = fe.base_url + path;
  h.user = fe.user;
  h.password = fe.password;
  h.options.expect_continue = false;
  http_response r = co_await client.request(std::move(h));
  fe_answer out;
  out.http_status = r.status;
  if (r.error) {
    out.transport = std::move(r.error);
    co_return out;
  }
  load_answer_result a = parse_load_answer(r.body);
  out.unauthorized = r.status == 401 || (a && a.value->unauthorized());
  json::object_result o = json::read_object(r.body);
  if (r.status != 200) {
    out.error = "HTTP " + std::to_string(r.status) + " from " + origin(fe.base_url);
  } else if (!o) {
    out.error = "unreadable answer from " + origin(fe.base_url) + ": " + o.error;
  } else {
    out.body = std::move(*o.value);
  }
  co_return out;
}

asio::awaitable<fe_answer> fe_get(http_client& client, const load_endpoint& fe, std::string path,
                                  http_options options) {
  http_request h;
  h.method = http_method::get;
  h.options = options;
  co_return co_await fe_call(client, fe, path, std::move(h));
}

}  // namespace

asio::awaitable<label_state> get_load_state(http_client& client, load_endpoint fe, std::string db,
                                            std::string label, http_options options) {
  if (!valid_label(label)) throw std::invalid_argument("doris: get_load_state needs a valid label");
  fe_answer a = co_await fe_get(
      client, fe, "/api/" + path_segment(db) + "/get_load_state?label=" + label, options);
  label_state out;
  out.transport = std::move(a.transport);
  out.http_status = a.http_status;
  out.unauthorized = a.unauthorized;
  out.error = std::move(a.error);
  if (a.body && out.error.empty()) {
    const json::value* code = a.body->find("code");
    const json::value* data = a.body->find("data");
    if (code != nullptr && code->text == "0" && data != nullptr &&
        data->kind == json::kind::string) {
      out.state = data->text;
    } else {
      const json::value* msg = a.body->find("msg");
      out.error = "the FE did not tell the state of label " + label +
                  (msg != nullptr ? ": " + msg->text : std::string());
    }
  }
  co_return out;
}

asio::awaitable<backend_list> list_backends(http_client& client, load_endpoint fe,
                                            http_options options) {
  fe_answer a = co_await fe_get(client, fe, "/api/backends?is_alive=true", options);
  backend_list out;
  out.transport = std::move(a.transport);
  out.http_status = a.http_status;
  out.unauthorized = a.unauthorized;
  out.error = std::move(a.error);
  if (!a.body || !out.error.empty()) co_return out;
  // {"msg":"success","code":0,"data":{"backends":[{"ip":..,"http_port":..,"is_alive":..}]}}
  const json::value* data = a.body->find("data");
  std::optional<json::object> inner;
  if (data != nullptr && data->kind == json::kind::object) {
    if (auto o = json::read_object(data->text)) inner = std::move(*o.value);
  }
  const json::value* list = inner ? inner->find("backends") : nullptr;
  std::optional<std::vector<json::value>> items;
  if (list != nullptr && list->kind == json::kind::array) items = json::read_array(list->text);
  if (!items) {
    out.error = "no backend list in the FE's answer";
    co_return out;
  }
  for (const json::value& item : *items) {
    if (item.kind != json::kind::object) continue;
    json::object_result be = json::read_object(item.text);
    if (!be) continue;
    const json::value* ip = be.value->find("ip");
    const json::value* port = be.value->find("http_port");
    if (ip == nullptr || port == nullptr || ip->text.empty()) continue;
    const int p = std::atoi(port->text.c_str());
    if (p > 0 && p < 65536) out.backends.push_back({ip->text, p});
  }
  co_return out;
}

asio::awaitable<table_description> describe_table(http_client& client, load_endpoint fe,
                                                  std::string db, std::string table,
                                                  http_options options) {
  fe_answer a = co_await fe_get(
      client, fe, "/api/" + path_segment(db) + "/" + path_segment(table) + "/_schema", options);
  table_description out;
  out.transport = std::move(a.transport);
  out.http_status = a.http_status;
  out.unauthorized = a.unauthorized;
  out.error = std::move(a.error);
  if (!a.body || !out.error.empty() || out.unauthorized) co_return out;
  // {"msg":"success","code":0,"data":{"status":200,"keysType":..,"properties":[..]},"count":0};
  // an unknown table: code 1 (okWithCommonError) and the message.
  const json::value* code = a.body->find("code");
  const json::value* data = a.body->find("data");
  const json::value* msg = a.body->find("msg");
  if (code == nullptr || code->text != "0" || data == nullptr || data->kind != json::kind::object) {
    out.error = msg != nullptr ? msg->text : std::string("no table description in the answer");
    if (data != nullptr && data->kind == json::kind::string) out.error += ": " + data->text;
    co_return out;
  }
  json::object_result inner = json::read_object(data->text);
  const json::value* props = inner ? inner.value->find("properties") : nullptr;
  std::optional<std::vector<json::value>> items;
  if (props != nullptr && props->kind == json::kind::array) items = json::read_array(props->text);
  if (!items) {
    out.error = "no column list in the FE's table description";
    co_return out;
  }
  if (const json::value* k = inner.value->find("keysType")) out.keys_type = k->text;
  for (const json::value& item : *items) {
    json::object_result c = json::read_object(item.text);
    if (!c) continue;
    table_description::column col;
    if (const json::value* n = c.value->find("name")) col.name = n->text;
    if (const json::value* t = c.value->find("type")) col.type = t->text;
    const json::value* is_key = c.value->find("is_key");
    const json::value* agg = c.value->find("aggregation_type");
    col.key = is_key != nullptr
                  ? is_key->text == "Yes"
                  : agg == nullptr || agg->text.empty() || agg->kind == json::kind::null;
    out.columns.push_back(std::move(col));
  }
  out.found = true;
  co_return out;
}

asio::awaitable<query_rows> run_query(http_client& client, load_endpoint fe, std::string db,
                                      std::string stmt, std::uint64_t limit, http_options options) {
  std::string body = "{\"stmt\":";
  codecs::append_json_string(body, stmt);
  body += ",\"limit\":" + std::to_string(limit) + "}";
  http_request h;
  h.method = http_method::post;
  h.headers.emplace_back("Content-Type", "application/json");
  h.body = std::as_bytes(std::span(body.data(), body.size()));
  h.options = options;
  h.options.max_response_body = std::size_t{1} << 30;
  fe_answer a =
      co_await fe_call(client, fe, "/api/query/default_cluster/" + path_segment(db), std::move(h));
  query_rows out;
  out.http_status = a.http_status;
  out.transport = std::move(a.transport);
  out.unauthorized = a.unauthorized;
  out.error = std::move(a.error);
  if (out.transport || !a.body) co_return out;
  const json::object* o = &*a.body;
  const json::value* code = o->find("code");
  const json::value* data = o->find("data");
  const json::value* msg = o->find("msg");
  if (code == nullptr || code->text != "0" || data == nullptr || data->kind != json::kind::object) {
    out.error = msg != nullptr ? msg->text : std::string("no result in the FE's answer");
    co_return out;
  }
  json::object_result set = json::read_object(data->text);
  const json::value* rows = set ? set.value->find("data") : nullptr;
  const auto list = rows != nullptr && rows->kind == json::kind::array
                        ? json::read_array(rows->text)
                        : std::nullopt;
  if (!list) {
    out.error = "no result rows in the FE's answer";
    co_return out;
  }
  for (const json::value& row : *list) {
    const auto fields = json::read_array(row.text);
    if (!fields) {
      out.error = "a result row that is not an array";
      co_return out;
    }
    std::vector<std::optional<std::string>> values;
    for (const json::value& f : *fields) {
      if (f.kind == json::kind::null)
        values.emplace_back();
      else
        values.emplace_back(f.text);
    }
    out.rows.push_back(std::move(values));
  }
  co_return out;
}

asio::awaitable<error_log> fetch_error_log(http_client& client, std::string url,
                                           http_options options) {
  http_request h;
  h.method = http_method::get;
  h.url = std::move(url);
  h.options = options;
  h.options.expect_continue = false;
  http_response r = co_await client.request(std::move(h));
  error_log out;
  out.http_status = r.status;
  if (r.error) {
    out.transport = std::move(r.error);
  } else if (r.status != 200) {
    out.error = "HTTP " + std::to_string(r.status) + " fetching the error log";
  } else {
    out.text = std::move(r.body);
  }
  co_return out;
}

std::vector<filtered_row> parse_error_log(std::string_view text) {
  std::vector<filtered_row> out;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (line.empty()) continue;
    filtered_row f;
    // "Reason: <why>. src line [<line>]; " -- the last " src line [" starts the row.
    const std::size_t src = line.rfind(" src line [");
    if (src == std::string_view::npos) {
      f.reason = std::string(line);
    } else {
      f.reason = std::string(line.substr(0, src));
      std::string_view rest = line.substr(src + 11);
      const std::size_t end = rest.rfind("]; ");
      const std::size_t end2 = rest.rfind(']');
      f.line = std::string(rest.substr(0, end != std::string_view::npos ? end : end2));
    }
    if (f.reason.rfind("Reason: ", 0) == 0) f.reason.erase(0, 8);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace uringmig::connectors::doris
