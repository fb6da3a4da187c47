#pragma once

// What the connection threads share with the request handlers (internal).

#include <cstdint>
#include <string>
#include <vector>

#include "tests/doris_double/http.hpp"
#include "tests/doris_double/server.hpp"
#include "tests/doris_double/store.hpp"
#include "tests/doris_double/wire.hpp"

namespace uringmig::test::doris_double {

/// What becomes of the connection after a request.
enum class after {
  keep_alive,  // read the next request
  close,       // close normally
  linger,      // the body was never read: half-close, drain, close
  reset,       // close with a RST
};

struct handler_env {
  store& st;
  const options& opts;
  const stopper& stop;
  std::uint16_t fe_port = 0;
  std::uint16_t be_port = 0;
};

request_record make_record(node where, const request_head& req);
/// The request's body framing from its headers (Content-Length or chunked).
body_framing framing_of(const request_head& req);
bool has_body(const request_head& req);

/// Logs `rec` with the answer, then sends it. `body_pending`: the request's
/// body was not read, so the connection cannot carry another request.
after answer(connection_io& io, handler_env& env, request_record& rec, const request_head& req,
             int status, const std::vector<header>& headers, const std::string& body,
             bool body_pending);

/// `PUT /api/{db}/{table}/_stream_load` on a BE (or on the FE in fe_direct mode).
after serve_stream_load(connection_io& io, const request_head& req, const std::string& db,
                        const std::string& table, handler_env& env, node where);
/// `PUT /api/{db}/_stream_load_2pc` on a BE.
after serve_two_phase(connection_io& io, const request_head& req, const std::string& db,
                      handler_env& env, node where);

}  // namespace uringmig::test::doris_double
