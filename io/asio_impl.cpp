// Asio compiled once (BOOST_ASIO_SEPARATE_COMPILATION), with one change to its io_uring service:
// a smaller ring when the kernel cannot give the large one.
//
// Asio 1.81 asks for a ring of 16 384 entries on every context. A ring's arrays are physically
// contiguous kernel memory (1 MiB of SQEs alone), so on a host whose memory is fragmented (many
// processes, long uptime), or under a low RLIMIT_MEMLOCK before Linux 5.12, io_uring_setup
// fails with ENOMEM where a smaller ring is granted. Asio submits whenever its submission queue
// is full, so a smaller ring costs at most more io_uring_enter calls under very high load.
// Only this file compiles Asio's io_uring service, so the macro below reaches nothing else.
// Guarded by tests/e2e/no_uring_test.sh (rings above 4 096 entries refused with ENOMEM).
#include <liburing.h>  // io/compat's, with the cancel fix

#include <cerrno>

namespace {

int uringmig_queue_init(unsigned entries, io_uring* ring, unsigned flags) {
  int result = io_uring_queue_init(entries, ring, flags);
  while (result == -ENOMEM && entries > 256) {
    entries /= 4;
    result = io_uring_queue_init(entries, ring, flags);
  }
  return result;
}

}  // namespace

#define io_uring_queue_init(entries, ring, flags) uringmig_queue_init((entries), (ring), (flags))

#include <boost/asio/impl/src.hpp>
// Asio's TLS (the HTTP server's optional HTTPS), compiled once as well.
#include <boost/asio/ssl/impl/src.hpp>
