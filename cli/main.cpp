#include "cli/app.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  // cli::main catches everything itself; this is the last line of defence.
  try {
    return uringmig::cli::main(argc, argv);
  } catch (...) {
    std::fputs("uringmig: unexpected internal error\n", stderr);
    return 1;
  }
}
