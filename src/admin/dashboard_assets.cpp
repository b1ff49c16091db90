#include "admin/dashboard_assets.hpp"

#include "admin/admin_server.hpp"

namespace cohort::admin {

std::span<const asset> all_assets() {
  return {detail::embedded_assets, detail::embedded_asset_count};
}

const asset* find_asset(std::string_view path) {
  if (path == "/") {
    path = "/index.html";
  }
  for (const auto& a : all_assets()) {
    if (a.path == path) {
      return &a;
    }
  }
  return nullptr;
}

response asset_response(const asset& a) {
  response r{200, std::string(a.content_type), std::string(a.body)};
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

}  // namespace cohort::admin
