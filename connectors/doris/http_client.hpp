#pragma once

// The Stream Load client's HTTP layer is the connectors' one client (connectors/http); these
// names keep Doris code and tests spelling it `connectors::doris::http_client`.

#include "connectors/http/http_client.hpp"

namespace uringmig::connectors::doris {

using http::http_client;
using http::http_client_options;
using http::http_headers;
using http::http_method;
using http::http_options;
using http::http_request;
using http::http_response;
using http::http_timing;
using http::to_string;
using http::transport_error;

}  // namespace uringmig::connectors::doris
