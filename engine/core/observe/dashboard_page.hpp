#pragma once

#include <string_view>

namespace uringmig::engine::observe {

/// The page GET / serves: HTML with its CSS and JavaScript inline (no network); lives for the
/// program.
std::string_view dashboard_page();

}  // namespace uringmig::engine::observe
