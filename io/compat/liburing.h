// Wrapper found before the system <liburing.h> (this directory is first on the
// include path of every target that sees Asio).
//
// Why: Asio 1.81 (Boost 1.81) fills SQEs with io_uring_prep_cancel() and
// io_uring_prep_timeout_remove() and never sets their user_data. liburing >= 2.2
// stopped clearing user_data in its prep helpers, so the SQE keeps the value of
// whatever operation used that ring slot before. When the cancel completes, Asio
// reads that stale pointer and completes an unrelated operation: a wait on a
// pipe nobody writes returns "Success" after a few thousand cancel cycles.
// Zeroing user_data makes Asio ignore those completions, which is what it
// expects (it only acts on CQEs whose user_data it set). Boost 1.82 fixed it
// upstream; tests/unit/asio_uring_cancel_test.cpp guards the fix.
#pragma once
#pragma GCC system_header

#include_next <liburing.h>

#define URINGMIG_LIBURING_CANCEL_FIX 1

static inline void uringmig_prep_cancel_zeroed(struct io_uring_sqe* sqe, void* user_data,
                                               int flags) {
  io_uring_prep_cancel(sqe, user_data, flags);
  io_uring_sqe_set_data64(sqe, 0);
}

static inline void uringmig_prep_timeout_remove_zeroed(struct io_uring_sqe* sqe, __u64 user_data,
                                                       unsigned flags) {
  io_uring_prep_timeout_remove(sqe, user_data, flags);
  io_uring_sqe_set_data64(sqe, 0);
}

// Function-like macros: the helpers above were defined before these, so they
// still call liburing's own inline functions.
#define io_uring_prep_cancel(sqe, user_data, flags) \
  uringmig_prep_cancel_zeroed((sqe), (user_data), (flags))
#define io_uring_prep_timeout_remove(sqe, user_data, flags) \
  uringmig_prep_timeout_remove_zeroed((sqe), (user_data), (flags))
