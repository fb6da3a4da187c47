#include <boost/asio/impl/src.hpp>
// Asio's TLS (the HTTP server's optional HTTPS), compiled once as well.
#include <boost/asio/ssl/impl/src.hpp>
