#pragma once

// The double's HTTP text pieces are the test servers' shared ones (tests/support/http_text).

#include "tests/support/http_text.hpp"

namespace uringmig::test::doris_double {

using namespace uringmig::test::http;

}  // namespace uringmig::test::doris_double
