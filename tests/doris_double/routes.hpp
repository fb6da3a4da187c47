#pragma once

#include "tests/doris_double/handlers.hpp"

namespace uringmig::test::doris_double {

/// Dispatches one request received on the FE or the BE port.
after route(connection_io& io, const request_head& req, handler_env& env, node where);

}  // namespace uringmig::test::doris_double
