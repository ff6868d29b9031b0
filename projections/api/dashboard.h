// The dashboard page served at GET / (projections/api/dashboard.html, compiled in by CMake: plain
// HTML + JS, no build step).
#pragma once

#include <string_view>

namespace ul {

std::string_view dashboard_html();

}  // namespace ul
