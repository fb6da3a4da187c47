// The Asio 1.81 io_uring cancel bug, through the project's own Asio build
// (io/compat fix included): a wait on a pipe nobody writes must survive many
// cancel cycles on another descriptor.
#include "tests/regression/cancel_cycles.hpp"

#include <gtest/gtest.h>

TEST(asio_uring_cancel, idle_wait_survives_100k_cancel_cycles) {
  const auto r = uringmig::test::run_cancel_cycles(100000);
  EXPECT_FALSE(r.idle_wait_completed) << "spurious completion after " << r.cycles_done;
  EXPECT_EQ(r.cycles_done, 100000u);
}
