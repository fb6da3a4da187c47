#pragma once

// Doris answers are read with the project's one JSON object reader (codecs/json_reader); the
// alias keeps Doris code and tests spelling it `connectors::doris::json`.

#include "codecs/json_reader.hpp"

namespace uringmig::connectors::doris {

namespace json = codecs::json;

}  // namespace uringmig::connectors::doris
