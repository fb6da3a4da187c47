#include "engine/core/observe/dashboard_page.hpp"

#include <cstddef>

namespace uringmig::engine::observe {

namespace embedded {
// Generated at build time from dashboard.html (embed_file.cmake).
extern const char dashboard_html[];
extern const std::size_t dashboard_html_size;
}  // namespace embedded

std::string_view dashboard_page() {
  return {embedded::dashboard_html, embedded::dashboard_html_size};
}

}  // namespace uringmig::engine::observe
