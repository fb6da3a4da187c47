#include "engine/core/process_setup.hpp"

#include "connectors/sqlite/database.hpp"

namespace uringmig::engine {

void setup_process() noexcept {
  // Before anything opens a SQLite database (the state store, sources, shard writers).
  static_cast<void>(connectors::sqlite::configure_process());
}

}  // namespace uringmig::engine
