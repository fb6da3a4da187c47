#include "codecs/url.hpp"

#include "codecs/ascii.hpp"

#include <algorithm>
#include <charconv>
#include <span>
#include <string>
#include <utility>

namespace uringmig::codecs {

namespace {

using ascii::is_ident_char;
constexpr auto ascii_lower = ascii::lower;

// Internal only: every parse step throws this and parse_endpoint turns it into an error value.
// Messages are built from non-secret parts only (never the user info, never a password value).
struct bad_url {
  std::string message;
};

constexpr std::string_view valid_schemes =
    "postgresql://, postgres://, sqlite://, doris://, snowflake://";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode_or_throw(std::string_view text, std::string_view what) {
  auto decoded = percent_decode(text);
  if (!decoded) {
    throw bad_url{"invalid percent-encoding in " + std::string(what) +
                  " (write a literal % as %25)"};
  }
  return std::move(*decoded);
}

/// Parses a whole string as a non-negative decimal integer.
std::optional<long long> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  long long v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

/// A port from the authority section is never quoted in errors: when a password holds an
/// unencoded '/' or '?', what looks like `host:port` there is `user:password`.
enum class port_origin { authority, parameter };

int parse_port(std::string_view s, std::string_view scheme, port_origin origin) {
  const auto v = parse_uint(s);
  if (!v || *v < 1 || *v > 65535) {
    const std::string quoted = origin == port_origin::parameter ? " '" + std::string(s) + "'" : "";
    throw bad_url{"invalid port" + quoted + " in the " + std::string(scheme) +
                  " URL (expected a number from 1 to 65535; a user name or password with '/', "
                  "'?' or '@' must be percent-encoded: %2F, %3F, %40)"};
  }
  return static_cast<int>(*v);
}

struct query_param {
  std::string key;
  std::string value;
};

/// Splits `a=1&b=2` into decoded pairs. Values of keys that look secret are never quoted in
/// errors; keys are.
std::vector<query_param> parse_query(std::string_view query, std::string_view scheme) {
  std::vector<query_param> params;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      throw bad_url{"parameter '" + decode_or_throw(item, "a parameter name") + "' in the " +
                    std::string(scheme) + " URL has no value (write name=value)"};
    }
    query_param p;
    p.key = decode_or_throw(item.substr(0, eq), "a parameter name");
    p.value = decode_or_throw(item.substr(eq + 1), "the value of parameter '" + p.key + "'");
    params.push_back(std::move(p));
  }
  return params;
}

struct authority {
  std::optional<std::string> user;
  std::optional<std::string> password;  // set when the user info has a ':'
  std::string_view hosts;               // still encoded: "h1:5432,[::1]:5433"
};

/// Splits `user:pass@hosts` off `rest` (everything after "scheme://") up to the first '/' or '?'.
/// Leaves `rest` at the path or query.
authority split_authority(std::string_view& rest, std::string_view scheme) {
  authority a;
  const auto end = rest.find_first_of("/?");
  std::string_view auth = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  const auto at = auth.find('@');
  // `user:pa/ss@host`: the authority seems to end at the '/', and the '@' comes later, before
  // any `key=value`. Say so without quoting a byte of it: it is half a password.
  if (at == std::string_view::npos && !auth.empty()) {
    const auto late_at = rest.find('@');
    if (late_at != std::string_view::npos &&
        rest.substr(0, late_at).find('=') == std::string_view::npos) {
      throw bad_url{"the " + std::string(scheme) +
                    " URL has an unencoded '/' or '?' in its user name or password (write '/' "
                    "as %2F and '?' as %3F)"};
    }
  }
  if (at != std::string_view::npos) {
    const auto userinfo = auth.substr(0, at);
    auth = auth.substr(at + 1);
    if (auth.find('@') != std::string_view::npos) {
      throw bad_url{"the " + std::string(scheme) +
                    " URL has an unencoded '@' in its user name or password (write it as %40)"};
    }
    const auto colon = userinfo.find(':');
    a.user = decode_or_throw(userinfo.substr(0, colon), "the user name");
    if (colon != std::string_view::npos) {
      a.password = decode_or_throw(userinfo.substr(colon + 1), "the password");
    }
  }
  a.hosts = auth;
  return a;
}

/// One `host[:port]` or `[v6addr][:port]`; the port is empty when absent.
std::pair<std::string, std::string_view> split_host_port(std::string_view hp,
                                                         std::string_view scheme) {
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!hp.empty() && hp.front() == '[') {
    const auto close = hp.find(']');
    if (close == std::string_view::npos) {
      throw bad_url{"unclosed '[' in a host of the " + std::string(scheme) + " URL"};
    }
    host = hp.substr(1, close - 1);
    const auto after = hp.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        throw bad_url{"unexpected text after ']' in a host of the " + std::string(scheme) + " URL"};
      }
      port = after.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = hp.find(':');
    host = hp.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = hp.substr(colon + 1);
      has_port = true;
    }
  }
  if (has_port && port.empty()) {
    throw bad_url{"empty port after ':' in the " + std::string(scheme) + " URL"};
  }
  return {decode_or_throw(host, "a host name"), port};
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) out += sep;
    out += parts[i];
  }
  return out;
}

/// Validates every port in a comma-separated list ("5432,5433").
void check_port_list(std::string_view ports, std::string_view scheme) {
  while (true) {
    const auto comma = ports.find(',');
    const auto one = ports.substr(0, comma);
    if (!one.empty()) parse_port(one, scheme, port_origin::parameter);
    if (comma == std::string_view::npos) break;
    ports = ports.substr(comma + 1);
  }
}

postgres_endpoint parse_postgres(std::string_view url, std::string_view rest) {
  constexpr std::string_view scheme = "postgresql";
  postgres_endpoint pg;
  pg.conninfo = std::string(url);

  const auto auth = split_authority(rest, scheme);
  if (auth.user) pg.user = *auth.user;
  pg.has_password = auth.password && !auth.password->empty();

  if (!auth.hosts.empty()) {
    std::vector<std::string> hosts;
    std::vector<std::string> ports;
    bool any_port = false;
    std::string_view list = auth.hosts;
    while (true) {
      const auto comma = list.find(',');
      auto [host, port] = split_host_port(list.substr(0, comma), scheme);
      if (!port.empty()) {
        parse_port(port, scheme, port_origin::authority);
        any_port = true;
      }
      hosts.push_back(std::move(host));
      ports.emplace_back(port);
      if (comma == std::string_view::npos) break;
      list = list.substr(comma + 1);
    }
    pg.host = join(hosts, ',');
    if (any_port) pg.port = join(ports, ',');
  }

  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (!rest.empty()) {  // starts with '/'
    pg.dbname = decode_or_throw(rest.substr(1), "the database name");
  }

  // libpq lets query parameters override the URI parts.
  for (auto& p : parse_query(query, scheme)) {
    if (p.key == "password") {
      pg.has_password = !p.value.empty();
    } else if (p.key == "user") {
      pg.user = std::move(p.value);
    } else if (p.key == "host") {
      pg.host = std::move(p.value);
    } else if (p.key == "port") {
      check_port_list(p.value, scheme);
      pg.port = std::move(p.value);
    } else if (p.key == "dbname") {
      pg.dbname = std::move(p.value);
    }
  }
  return pg;
}

int parse_int_param(const query_param& p, long long min, long long max) {
  const auto v = parse_uint(p.value);
  if (!v || *v < min || *v > max) {
    throw bad_url{p.key + "='" + p.value + "' in the sqlite URL must be an integer from " +
                  std::to_string(min) + " to " + std::to_string(max)};
  }
  return static_cast<int>(*v);
}

endpoint parse_sqlite(std::string_view rest) {
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string path = decode_or_throw(rest, "the sqlite path");
  if (path.empty()) {
    throw bad_url{"the sqlite URL has no path (write sqlite:///path/file.db)"};
  }

  std::optional<int> shards;
  std::optional<int> reserved;
  std::optional<std::string> key;
  for (auto& p : parse_query(query, "sqlite")) {
    if (p.key == "shards") {
      shards = parse_int_param(p, 1, 65536);
    } else if (p.key == "reserved_shard") {
      reserved = parse_int_param(p, 0, 65536);
    } else if (p.key == "shard_key") {
      if (p.value.empty()) throw bad_url{"shard_key in the sqlite URL is empty (name a column)"};
      key = std::move(p.value);
    } else {
      throw bad_url{"unknown parameter '" + p.key +
                    "' in the sqlite URL (valid: shards, shard_key, reserved_shard)"};
    }
  }

  endpoint e;
  if (!shards) {
    if (key || reserved) {
      throw bad_url{"the sqlite URL has shard_key or reserved_shard but no shards=N"};
    }
    e.spec = sqlite_endpoint{std::move(path)};
    return e;
  }
  if (!key) {
    throw bad_url{"the sqlite URL has shards=" + std::to_string(*shards) +
                  " but no shard_key=COLUMN"};
  }
  sqlite_shards_endpoint s;
  s.dir = std::move(path);
  s.shards = *shards;
  s.shard_key = std::move(*key);
  s.reserved_shard = reserved.value_or(*shards);
  e.spec = std::move(s);
  return e;
}

bool doris_bool_param(const query_param& p) {
  if (p.value == "true" || p.value == "1") return true;
  if (p.value == "false" || p.value == "0") return false;
  throw bad_url{p.key + "='" + p.value + "' in the doris URL is not true or false"};
}

doris_endpoint parse_doris(std::string_view rest, bool https) {
  constexpr std::string_view scheme = "doris";
  doris_endpoint d;
  d.tls = https;
  auto auth = split_authority(rest, scheme);
  if (auth.user && !auth.user->empty()) d.user = std::move(*auth.user);
  if (auth.password) d.password = std::move(*auth.password);
  if (auth.hosts.empty()) {
    throw bad_url{"the doris URL has no FE host (write doris://user:pass@fe_host:8030/db)"};
  }
  if (auth.hosts.find(',') != std::string_view::npos) {
    throw bad_url{"the doris URL names several FE hosts; give one (BEs go in ?be=host:8040,...)"};
  }
  auto [host, port] = split_host_port(auth.hosts, scheme);
  d.fe.host = std::move(host);
  if (!port.empty()) d.fe.port = parse_port(port, scheme, port_origin::authority);

  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.size() > 1) d.database = decode_or_throw(rest.substr(1), "the database name");
  if (d.database.empty()) {
    throw bad_url{"the doris URL has no database (write doris://user:pass@fe_host:8030/db)"};
  }
  if (d.database.find('/') != std::string::npos) {
    throw bad_url{"the doris database name '" + d.database + "' contains '/'"};
  }

  for (auto& p : parse_query(query, scheme)) {
    if (p.key == "be") {
      std::string_view list = p.value;
      while (!list.empty()) {
        const auto comma = list.find(',');
        const auto one = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (one.empty()) continue;
        auto [be_host, be_port] = split_host_port(one, scheme);
        if (be_host.empty()) throw bad_url{"an empty BE host in be= of the doris URL"};
        d.be.push_back(
            {std::move(be_host),
             be_port.empty() ? 8040 : parse_port(be_port, scheme, port_origin::parameter)});
      }
    } else if (p.key == "format") {
      if (p.value == "csv") {
        d.format = doris_format::csv;
      } else if (p.value == "json") {
        d.format = doris_format::json;
      } else {
        throw bad_url{"format='" + p.value + "' in the doris URL is not csv or json"};
      }
    } else if (p.key == "tls") {
      const bool on = doris_bool_param(p);
      if (https && !on) throw bad_url{"tls=false contradicts doris+https:// in the doris URL"};
      d.tls = on;
    } else if (p.key == "tls_ca") {
      if (p.value.empty()) throw bad_url{"tls_ca in the doris URL is empty (name a PEM file)"};
      d.tls_ca_file = std::move(p.value);
    } else if (p.key == "tls_verify") {
      d.tls_verify = doris_bool_param(p);
    } else {
      throw bad_url{"unknown parameter '" + p.key +
                    "' in the doris URL (valid: be, format, tls, tls_ca, tls_verify)"};
    }
  }
  if (!d.tls && (!d.tls_ca_file.empty() || !d.tls_verify)) {
    throw bad_url{
        "tls_ca or tls_verify in the doris URL without TLS (use doris+https:// or tls=true)"};
  }
  return d;
}

snowflake_endpoint parse_snowflake(std::string_view rest) {
  constexpr std::string_view scheme = "snowflake";
  constexpr std::string_view form = " (write snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=W)";
  snowflake_endpoint s;
  auto auth = split_authority(rest, scheme);
  if (auth.password) {
    throw bad_url{
        "the snowflake URL carries no password: sign in with a key pair ([snowflake] "
        "private_key_file) or an OAuth token ([snowflake] token)"};
  }
  if (!auth.user || auth.user->empty())
    throw bad_url{"the snowflake URL has no user" + std::string(form)};
  s.user = std::move(*auth.user);
  s.account = decode_or_throw(auth.hosts, "the account");
  if (s.account.empty() || s.account.find_first_of(":,[]") != std::string::npos)
    throw bad_url{"the snowflake URL has no account identifier" + std::string(form)};
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (!rest.empty()) rest.remove_prefix(1);  // the '/' after the account
  const auto slash = rest.find('/');
  s.database = decode_or_throw(rest.substr(0, slash), "the database name");
  if (slash != std::string_view::npos) {
    const std::string_view schema = rest.substr(slash + 1);
    if (schema.find('/') != std::string_view::npos)
      throw bad_url{"the snowflake URL has more path than DATABASE/SCHEMA" + std::string(form)};
    s.schema = decode_or_throw(schema, "the schema name");
  }
  if (s.database.empty()) throw bad_url{"the snowflake URL has no database" + std::string(form)};
  for (auto& p : parse_query(query, scheme)) {
    if (p.key == "warehouse") {
      s.warehouse = std::move(p.value);
    } else if (p.key == "role") {
      s.role = std::move(p.value);
    } else {
      throw bad_url{"unknown parameter '" + p.key +
                    "' in the snowflake URL (valid: warehouse, role)"};
    }
  }
  return s;
}

}  // namespace

std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (is_ident_char(c) || c == '-' || c == '.' || c == '~') {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  return out;
}

std::optional<std::string> with_password(std::string_view url, std::string_view password) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  const std::size_t begin = sep + 3;
  const auto end = std::min(url.find_first_of("/?", begin), url.size());
  const auto authority = url.substr(begin, end - begin);
  const auto at = authority.rfind('@');
  const auto hosts = at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (hosts.empty()) {
    // libpq's `postgresql:///db?host=/socket`: the password goes in as a parameter.
    if (lower(url.substr(0, 8)) != "postgres") return std::nullopt;
    std::string out(url);
    out += url.find('?') == std::string_view::npos ? "?password=" : "&password=";
    out += percent_encode(password);
    return out;
  }
  const auto userinfo = at == std::string_view::npos ? std::string_view{} : authority.substr(0, at);
  const auto user = userinfo.substr(0, userinfo.find(':'));
  std::string out(url.substr(0, begin));
  out.append(user);
  out += ':';
  out += percent_encode(password);
  out += '@';
  out.append(url.substr(begin + authority.size() - hosts.size()));
  return out;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

endpoint_result parse_endpoint(std::string_view url) {
  endpoint_result result;
  try {
    if (url.empty())
      throw bad_url{"the URL is empty (valid forms: " + std::string(valid_schemes) + ")"};
    const auto sep = url.find("://");
    const auto scheme_text = url.substr(0, sep);
    const bool scheme_ok = sep != std::string_view::npos && !scheme_text.empty() &&
                           std::all_of(scheme_text.begin(), scheme_text.end(), [](char c) {
                             return is_ident_char(c) || c == '+' || c == '-' || c == '.';
                           });
    if (!scheme_ok) {
      // Do not quote the text: it may be a key=value conninfo with a password in it.
      throw bad_url{
          "not a URL: expected scheme://... (valid schemes: " + std::string(valid_schemes) + ")"};
    }
    const std::string scheme = lower(scheme_text);
    const auto rest = url.substr(sep + 3);
    endpoint e;
    if (scheme == "postgresql" || scheme == "postgres") {
      e.spec = parse_postgres(url, rest);
    } else if (scheme == "sqlite") {
      e = parse_sqlite(rest);
    } else if (scheme == "doris" || scheme == "doris+https") {
      e.spec = parse_doris(rest, scheme == "doris+https");
    } else if (scheme == "snowflake") {
      e.spec = parse_snowflake(rest);
    } else {
      throw bad_url{"unknown URL scheme '" + scheme + "://' (valid: " + std::string(valid_schemes) +
                    ")"};
    }
    e.url = std::string(url);
    result.value = std::move(e);
  } catch (bad_url& bad) {
    // Belt and braces: nothing above quotes a secret, but a host or key might look like one.
    result.error = redact(bad.message);
  }
  return result;
}

std::string redacted_url(const endpoint& e) {
  return redact(e.url);
}

std::string_view to_string(endpoint_kind kind) noexcept {
  switch (kind) {
    case endpoint_kind::postgres:
      return "postgresql";
    case endpoint_kind::sqlite:
      return "sqlite";
    case endpoint_kind::sqlite_shards:
      return "sqlite shards";
    case endpoint_kind::doris:
      return "doris";
    case endpoint_kind::snowflake:
      return "snowflake";
  }
  return "unknown";
}

std::string_view to_string(doris_format format) noexcept {
  return format == doris_format::json ? "json" : "csv";
}

}  // namespace uringmig::codecs
