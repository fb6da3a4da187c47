// The Asio 1.81 io_uring cancel bug, as a repeatable experiment (header-only
// so the same code builds with and without io/compat's fix).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <unistd.h>
#include <cstddef>
#include <stdexcept>

namespace uringmig::test {

struct cancel_cycles_result {
  bool idle_wait_completed = false;  // the bug: a wait on a silent pipe completed
  std::size_t cycles_done = 0;
};

/// Waits on a pipe that is never written while another descriptor goes
/// through `cycles` wait+cancel rounds. Each cancel takes an SQE slot whose
/// stale user_data, without the fix, points at some earlier operation.
inline cancel_cycles_result run_cancel_cycles(std::size_t cycles) {
  namespace asio = boost::asio;
  int idle[2];
  int busy[2];
  if (::pipe(idle) != 0 || ::pipe(busy) != 0) throw std::runtime_error("pipe failed");

  cancel_cycles_result out;
  {
    asio::io_context ctx(1);
    asio::posix::stream_descriptor idle_rd(ctx, idle[0]);
    asio::posix::stream_descriptor busy_rd(ctx, busy[0]);

    bool idle_done = false;
    idle_rd.async_wait(asio::posix::stream_descriptor::wait_read,
                       [&](const boost::system::error_code& ec) {
                         idle_done = true;
                         if (!ec) out.idle_wait_completed = true;
                       });

    for (std::size_t i = 0; i < cycles && !out.idle_wait_completed; ++i) {
      bool busy_done = false;
      busy_rd.async_wait(asio::posix::stream_descriptor::wait_read,
                         [&](const boost::system::error_code&) { busy_done = true; });
      busy_rd.cancel();
      while (!busy_done && !out.idle_wait_completed)
        ctx.run_one();
      out.cycles_done = i + 1;
    }

    // Tear down cleanly: cancel the idle wait and let it complete before the
    // descriptors and the context go away.
    idle_rd.cancel();
    while (!idle_done)
      ctx.run_one();
  }
  ::close(idle[1]);
  ::close(busy[1]);
  return out;
}

}  // namespace uringmig::test
