#include "cli/app.hpp"
#include "connectors/sqlite/database.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  // Before anything opens a SQLite database (the state store, sources, shard writers).
  uringmig::connectors::sqlite::configure_process();
  // cli::main catches everything itself; this is the last line of defence.
  try {
    return uringmig::cli::main(argc, argv);
  } catch (...) {
    std::fputs("uringmig: unexpected internal error\n", stderr);
    return 1;
  }
}
