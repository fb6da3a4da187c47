// Before anything is loaded into Doris: the names a Stream Load header cannot carry, and the FE
// (reachable, over TLS when asked, taking the credentials, listing the BEs a redirect may lead
// to).

#include "codecs/sql_text.hpp"
#include "engine/doris/load.hpp"
#include "io/sleep.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace uringmig::engine::doris {

namespace asio = boost::asio;

namespace {

/// One line for a TLS failure with the node at `where`.
std::string tls_failure(const std::string& where, const connectors::doris::transport_error& e) {
  if (e.code == 60)  // CURLE_PEER_FAILED_VERIFICATION: the chain or the host name
    return fmt::format(
        "the certificate of the Doris node at {} was not accepted: {}; give the CA that signs it "
        "with tls_ca= in the target URL (or [doris] tls_ca_file)",
        where, e.message);
  return fmt::format(
      "TLS with the Doris node at {} failed: {}; check that it serves https there and the CA "
      "file (tls_ca=)",
      where, e.message);
}

}  // namespace

/// Stream Load headers cannot carry a line break: a column name (or a `where`) holding one is
/// refused before anything is loaded, naming the table and the column.
void check_headers(const table_target& t, const std::vector<codecs::doris_column>& cols) {
  auto broken = [](std::string_view v) {
    return v.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
  };
  const std::string table = codecs::printable(t.info.display());
  for (const auto& [name, value] : t.headers) {
    if (!broken(value)) continue;
    if (name == "columns") {
      for (const auto& c : cols)
        if (broken(c.name))
          throw usage_error(fmt::format(
              "table {}, column {}: Doris's Stream Load cannot name a column holding a line "
              "break; rename the column, or list the Doris columns in [tables.\"{}\"] "
              "doris_columns",
              table, codecs::printable(c.name), table));
    }
    throw usage_error(
        fmt::format("table {}: the Stream Load header '{}' would hold a line break "
                    "({}); remove it from the setting",
                    table, name, codecs::printable(value)));
  }
  if (broken(t.doris_table))
    throw usage_error(
        fmt::format("table {}: a Doris table name cannot hold a line break; name the target with "
                    "[tables.\"{}\"] doris_table",
                    table, table));
}

/// Reaches the FE and checks the credentials before anything is loaded; then learns the BEs
/// the FE lists (trusted with the credentials when the FE redirects to them). Unreachable:
/// bounded retries, then job_error. Refused credentials or TLS: job_error at once.
asio::awaitable<void> preflight(job& j, connectors::doris::http_client& http) {
  const std::string fe = j.fe_base_url();
  connectors::doris::http_options o;
  o.total_timeout = std::chrono::seconds(30);
  for (int attempt = 0;; ++attempt) {
    connectors::doris::label_state r = co_await connectors::doris::get_load_state(
        http, j.endpoint(fe), j.cfg.target.database, "uringmig_preflight", o);
    if (r.transport) {
      if (r.transport->tls()) throw job_error(tls_failure(fe, *r.transport));
      if (!r.transport->retryable() || attempt >= j.cfg.retries)
        throw job_error(
            fmt::format("cannot reach the Doris FE at {}: {} (after {} attempts); "
                        "check the target URL and that Doris is up",
                        fe, r.transport->message, attempt + 1));
      const auto d = backoff_for(j.cfg, attempt);
      spdlog::warn("doris: cannot reach the FE at {}: {}; trying again in {} ms", fe,
                   r.transport->message, d.count());
      if (!co_await io::sleep_unless_stopped(d, j.stop))
        throw job_error("stopped before anything was loaded; run the same command to start");
      continue;
    }
    if (r.unauthorized)
      throw job_error(
          fmt::format("Doris refused user '{}' at {} (wrong user or password): fix the target URL",
                      j.cfg.target.user, fe));
    break;
  }
  connectors::doris::backend_list bl =
      co_await connectors::doris::list_backends(http, j.endpoint(fe), o);
  for (const auto& hp : bl.backends)
    j.trusted.push_back(connectors::doris::base_url(hp, j.cfg.target.tls));
  if (bl.transport || !bl.error.empty())
    spdlog::info(
        "doris: the FE at {} did not list its backends ({}): redirects are followed only to the "
        "FE and the BEs of be=",
        fe, bl.transport ? bl.transport->message : bl.error);
  else
    spdlog::info("doris: the FE lists {} backend(s); redirects to others are refused",
                 bl.backends.size());
}

}  // namespace uringmig::engine::doris
