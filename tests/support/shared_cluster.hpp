#pragma once

// The one PostgreSQL cluster all integration tests of a run share.
//
// Under ctest, `pg_fixture start` (fixture `pg`) started it and wrote
// $URINGMIG_PGFIX_DIR/conninfo.env; this reads that. When the variable is
// unset (a test binary run by hand) the first call starts a private cluster
// that is stopped when the process exits — even when it crashes: a watchdog
// process cleans up once this one is gone.

#include "tests/support/pg_cluster.hpp"

#include <string>
#include <string_view>

namespace uringmig::test {

/// Name of the environment variable naming the fixture directory.
inline constexpr const char* pgfix_dir_env = "URINGMIG_PGFIX_DIR";

/// The shared cluster; started or read on first use. Valid until process exit.
/// Throws std::runtime_error when it can be neither read nor started.
const pg_cluster_info& shared_cluster();

/// A database created for one test on the shared cluster.
struct fresh_database_info {
  std::string name;
  std::string conninfo;    // socket, superuser, trust
  std::string socket_url;  // postgresql:// URI over the socket, superuser
  std::string tcp_url;     // postgresql://uringmig:<password>@127.0.0.1:<port>/<name>
};

/// Creates a database no other test (in this or a parallel process) uses:
/// `<prefix>_<pid>_<n>_<random>`, the prefix reduced to [a-z0-9_]. It is not
/// dropped: the whole cluster is thrown away at the end of the run.
fresh_database_info fresh_database(std::string_view prefix);

}  // namespace uringmig::test
