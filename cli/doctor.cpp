#include "cli/doctor.hpp"

#include "cli/app.hpp"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/utsname.h>
#include <boost/version.hpp>

#include <string_view>

namespace uringmig::cli {

namespace {

void line(std::ostream& out, std::string_view name, std::string_view value) {
  out << name;
  for (std::size_t i = name.size(); i < 10; ++i)
    out << ' ';
  out << value << '\n';
}

}  // namespace

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
