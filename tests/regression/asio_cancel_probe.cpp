// Exit 0 when a wait on a silent pipe survives many cancel cycles on another
// descriptor, 1 when it completes spuriously (the Asio 1.81 io_uring bug).
// Built twice: with io/compat's fix (must pass) and without it (must fail),
// which proves the regression test can catch the bug on this machine.
#include "tests/regression/cancel_cycles.hpp"

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const std::size_t cycles = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const auto r = uringmig::test::run_cancel_cycles(cycles);
  if (r.idle_wait_completed) {
    std::printf("spurious completion of the idle wait after %zu cancel cycles\n", r.cycles_done);
    return 1;
  }
  std::printf("idle wait intact after %zu cancel cycles\n", r.cycles_done);
  return 0;
}
