#include "cli/app.hpp"
#include "engine/core/process_setup.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  uringmig::engine::setup_process();
  // cli::main catches everything itself; this is the last line of defence.
  try {
    return uringmig::cli::main(argc, argv);
  } catch (...) {
    std::fputs("uringmig: unexpected internal error\n", stderr);
    return 1;
  }
}
