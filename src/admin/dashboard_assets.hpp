#pragma once
// The dashboard's files (web/), embedded in the binary at build time so the
// admin listener serves them with no file next to `cohort serve`.

#include <cstddef>
#include <span>
#include <string_view>

namespace cohort::admin {

struct response;

struct asset {
  std::string_view path;  // "/index.html", "/assets/app.js"
  std::string_view content_type;
  std::string_view body;
};

// The asset served at a request path: "/" is index.html; nullptr when none.
const asset* find_asset(std::string_view path);

// Every embedded asset, in the order web/ listed them.
std::span<const asset> all_assets();

// A 200 with the asset's content type, revalidated on every load
// (Cache-Control: no-cache) so a new binary's dashboard is never stale.
response asset_response(const asset& a);

namespace detail {
extern const asset embedded_assets[];
extern const std::size_t embedded_asset_count;
}  // namespace detail

}  // namespace cohort::admin
