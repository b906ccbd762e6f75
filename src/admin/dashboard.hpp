// The admin listener's read-only dashboard (GET /): one HTML page with its script inline, no external
// assets. It polls /metrics, /routes and /readyz every two seconds and renders them.
#pragma once

#include <string_view>

namespace workgate::admin {

std::string_view dashboard_html();

}  // namespace workgate::admin
