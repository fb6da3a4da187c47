#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace uringmig::codecs {

/// `postgresql://` or `postgres://`: any libpq connection URI.
struct postgres_endpoint {
  std::string conninfo;  // the URL verbatim, for PQconnectdb; may hold a password
  // Decoded, for display only (libpq reads `conninfo` itself). Query parameters win over the
  // URI parts, as in libpq. Several hosts stay comma-separated ("h1,h2"); empty when unset.
  std::string user;
  std::string host;  // a name, an address or a socket directory ("/tmp/sock")
  std::string port;
  std::string dbname;
  bool has_password = false;
};

/// `sqlite:///path/file.db`: one SQLite database file.
struct sqlite_endpoint {
  std::string path;
};

/// `sqlite:///path/dir?shards=N&shard_key=COL[&reserved_shard=K]`: a set of shard files.
struct sqlite_shards_endpoint {
  std::string dir;
  int shards = 1;
  std::string shard_key;
  int reserved_shard = 1;  // index of the file for NULL/blank keys; default: `shards`
};

enum class doris_format { csv, json };

struct host_port {
  std::string host;
  int port = 0;
};

/// `doris://user:pass@fe_host:8030/db[?be=host:8040,...][&format=csv|json]`, over https with
/// `doris+https://...` or `tls=true`: `tls_ca=/path/ca.pem` names the CA certificates (PEM) that
/// sign the FE's and BEs' certificates (default: the system's), `tls_verify=false` turns off
/// the certificate and host-name checks (never the default).
struct doris_endpoint {
  std::string user = "root";
  std::string password;  // decoded; a secret: never print it
  host_port fe{"", 8030};
  std::string database;
  std::vector<host_port> be;  // empty: let the FE redirect Stream Load to a BE
  doris_format format = doris_format::csv;
  bool tls = false;         // https to the FE and the BEs
  std::string tls_ca_file;  // empty: the system's CA store
  bool tls_verify = true;   // certificate chain and host name
};

/// `snowflake://USER@ACCOUNT/DATABASE[/SCHEMA][?warehouse=W][&role=R]`: a Snowflake account's SQL
/// API. No password: key-pair JWT or OAuth (settings beside the URL). Names keep their case.
struct snowflake_endpoint {
  std::string user;
  std::string account;  // the identifier as given: "myorg-acct", "xy12345.eu-west-1"
  std::string database;
  std::string schema;  // empty: the user's default
  std::string warehouse;
  std::string role;
};

enum class endpoint_kind { postgres, sqlite, sqlite_shards, doris, snowflake };

/// A parsed --source / --target.
struct endpoint {
  std::string url;  // as given; may hold a password: print redacted_url(*this) instead
  std::variant<postgres_endpoint, sqlite_endpoint, sqlite_shards_endpoint, doris_endpoint,
               snowflake_endpoint>
      spec;

  endpoint_kind kind() const noexcept { return static_cast<endpoint_kind>(spec.index()); }
};

/// Either an endpoint or one line saying what is wrong with the URL. The error never contains
/// the password (it does not quote the URL, only the offending non-secret part).
struct endpoint_result {
  std::optional<endpoint> value;
  std::string error;

  explicit operator bool() const noexcept { return value.has_value(); }
};

/// Parses one endpoint URL of DESIGN.md ("Command line contract").
endpoint_result parse_endpoint(std::string_view url);

/// Encodes every byte but RFC 3986's unreserved ones (letters, digits, `-._~`) as %XX.
std::string percent_encode(std::string_view text);

/// `url` with `password` (percent-encoded) as the password of its user info, replacing any
/// there (`scheme://user@host` -> `scheme://user:PW@host`, `scheme://host` -> `scheme://:PW@host`).
/// A PostgreSQL URL without a host (`postgresql:///db?host=/sock`) gets `&password=PW`;
/// nullopt for other URLs without a host (`sqlite:///…`).
std::optional<std::string> with_password(std::string_view url, std::string_view password);

/// Decodes %XX escapes (RFC 3986); nullopt on a malformed escape. '+' stays '+'.
std::optional<std::string> percent_decode(std::string_view text);

/// Masks every password in free text: `scheme://user:SECRET@host`, libpq conninfo
/// `password=SECRET` / `password='se cret'`, URL parameters `?password=` / `&password=`, any key
/// ending in "password" or "passwd" (`sslpassword`, `PGPASSWORD`) and JSON `"password":"…"`.
/// Each secret becomes `****`. Errs on the side of masking too much.
std::string redact(std::string_view text);

/// Overwrites, in place, every secret `redact` would mask with 'x' bytes (same length: for
/// `argv`, whose strings cannot grow). True when something was overwritten.
bool scrub_secrets(std::span<char> text) noexcept;

/// The endpoint's URL with its password masked, for messages and logs.
std::string redacted_url(const endpoint& e);

std::string_view to_string(endpoint_kind kind) noexcept;
std::string_view to_string(doris_format format) noexcept;

}  // namespace uringmig::codecs
