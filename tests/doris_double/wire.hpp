#pragma once

// The double's socket plumbing is the test servers' shared one (tests/support/http_wire).

#include "tests/doris_double/http.hpp"
#include "tests/support/http_wire.hpp"

namespace uringmig::test::doris_double {

using namespace uringmig::test::http;

}  // namespace uringmig::test::doris_double
