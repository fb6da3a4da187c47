#include "cli/doctor.hpp"

#include "cli/app.hpp"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/utsname.h>
#include <boost/version.hpp>

#include "codecs/url.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <string_view>

namespace uringmig::cli {

namespace {

void line(std::ostream& out, std::string_view name, std::string_view value) {
  out << name;
  for (std::size_t i = name.size(); i < 10; ++i)
    out << ' ';
  out << value << '\n';
}

/// libpq's own ways to a password when the URL has none.
std::string libpq_password_origin(
    const codecs::postgres_endpoint& pg, const std::string& url,
    const std::function<std::optional<std::string>(const std::string&)>& env) {
  if (env("PGPASSWORD")) return "PGPASSWORD (environment)";
  std::filesystem::path passfile;
  if (auto f = env("PGPASSFILE")) {
    passfile = *f;
  } else if (auto home = env("HOME")) {
    passfile = std::filesystem::path(*home) / ".pgpass";
  }
  std::error_code ec;
  if (!passfile.empty() && std::filesystem::is_regular_file(passfile, ec)) {
    return passfile.string() + " (libpq's password file, when a line matches)";
  }
  if (env("PGSERVICE") || url.find("service=") != std::string::npos) {
    return "a service file entry (PGSERVICE / service=)";
  }
  static_cast<void>(pg);
  return "none given (the server may use trust, peer or certificates)";
}

std::string query_param(const std::string& url, std::string_view key) {
  const auto q = url.find('?');
  if (q == std::string::npos) return {};
  std::string_view rest = std::string_view(url).substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto item = rest.substr(0, amp);
    if (item.substr(0, key.size()) == key && item.size() > key.size() && item[key.size()] == '=') {
      return codecs::percent_decode(item.substr(key.size() + 1)).value_or("");
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

std::string postgres_tls(const std::string& url,
                         const std::function<std::optional<std::string>(const std::string&)>& env) {
  auto mode = query_param(url, "sslmode");
  std::string from = "sslmode=";
  if (mode.empty()) {
    if (auto m = env("PGSSLMODE")) {
      mode = *m;
      from = "PGSSLMODE=";
    }
  }
  if (mode.empty())
    return "sslmode=prefer (libpq's default: TLS if the server offers it, unverified)";
  if (mode == "verify-full") return from + mode + " (TLS, certificate and host name verified)";
  if (mode == "verify-ca") return from + mode + " (TLS, certificate verified, host name not)";
  if (mode == "require") return from + mode + " (TLS, the server is not verified)";
  return from + mode + " (TLS only if the server insists: credentials may travel in clear)";
}

std::string dir_state(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return "missing: it will be created 0700";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  std::string text = std::string("mode ") + mode;
  if (st.st_uid != ::geteuid()) return text + ", belongs to another user: refused";
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) return text + ", others may write to it: refused";
  if ((st.st_mode & 077) != 0) return text + ", others may read it: made 0700 at the next run";
  return text + ", private";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> security_report(
    const std::vector<endpoint_origin>& endpoints, const std::filesystem::path& state_dir,
    const std::function<std::optional<std::string>(const std::string&)>& env) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : endpoints) {
    const auto parsed = codecs::parse_endpoint(e.url);
    if (!parsed) {
      out.emplace_back(e.role, "invalid URL: " + parsed.error);
      continue;
    }
    out.emplace_back(e.role, codecs::redacted_url(*parsed.value));
    std::string password;
    std::string tls = "not applicable (local file)";
    if (const auto* pg = std::get_if<codecs::postgres_endpoint>(&parsed.value->spec)) {
      tls = postgres_tls(e.url, env);
      if (e.password_file) {
        password = "the file " + e.password_file->string();
      } else if (pg->has_password) {
        password = "in the URL, from " + e.given_in;
      } else {
        password = libpq_password_origin(*pg, e.url, env);
      }
    } else if (const auto* d = std::get_if<codecs::doris_endpoint>(&parsed.value->spec)) {
      if (!d->tls) {
        tls = "none: http, credentials and data in clear (doris+https:// or tls=true)";
      } else if (!d->tls_verify) {
        tls = "https, certificates NOT verified (tls_verify=false)";
      } else {
        tls = "https, certificate and host name verified against " +
              (d->tls_ca_file.empty() ? std::string("the system's CAs") : d->tls_ca_file);
      }
      if (e.password_file) {
        password = "the file " + e.password_file->string();
      } else if (!d->password.empty()) {
        password = "in the URL, from " + e.given_in;
      } else {
        password = "none (empty password)";
      }
    } else {
      password = "not applicable (local file)";
    }
    if (e.given_in == "the command line" && password.starts_with("in the URL")) {
      password += " (overwritten in the process's arguments; prefer a password file)";
    }
    out.emplace_back("  password", password);
    out.emplace_back("  TLS", tls);
  }
  out.emplace_back("state dir", state_dir.string() + ": " + dir_state(state_dir));
  return out;
}

void print_security(const std::vector<std::pair<std::string, std::string>>& lines,
                    std::ostream& out) {
  out << "security\n";
  for (const auto& [name, value] : lines) {
    out << "  ";
    line(out, name, value);
  }
}

std::string kernel_release() {
  utsname u{};
  if (uname(&u) != 0) return "unknown (uname failed)";
  return u.release;
}

std::string libpq_version() {
  const int v = PQlibVersion();
  if (v >= 100000) return std::to_string(v / 10000) + "." + std::to_string(v % 10000);
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
}

std::string sqlite_version() {
  return sqlite3_libversion();
}

std::string libcurl_version() {
  const auto* info = curl_version_info(CURLVERSION_NOW);
  if (info == nullptr || info->version == nullptr) return "unknown";
  std::string v = info->version;
  if (info->ssl_version != nullptr) v += std::string(" (") + info->ssl_version + ")";
  return v;
}

std::string boost_version() {
  return std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) +
         "." + std::to_string(BOOST_VERSION % 100);
}

int run_doctor(const io::uring_probe_result& probe, std::ostream& out, std::ostream& err) {
  line(out, "uringmig", version());
  line(out, "kernel", kernel_release());
  line(out, "io_uring", probe.ok ? std::string("ok") : "unavailable: " + probe.cause);
  line(out, "liburing", io::liburing_version());
  line(out, "libpq", libpq_version());
  line(out, "SQLite", sqlite_version());
  line(out, "libcurl", libcurl_version());
  line(out, "Boost", boost_version());
  out.flush();
  if (probe.ok) return 0;
  err << "uringmig: " << io::describe_uring_failure(probe) << '\n';
  return 1;
}

}  // namespace uringmig::cli
