#include "admin/dashboard_assets.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "admin/admin_server.hpp"

namespace cohort::admin {
namespace {

std::string body_of(std::string_view path) {
  const auto* a = find_asset(path);
  return a == nullptr ? std::string() : std::string(a->body);
}

TEST(dashboard_assets, root_is_the_index_page) {
  const auto* root = find_asset("/");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root, find_asset("/index.html"));
  EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(root->body.starts_with("<!doctype html>"));
}

TEST(dashboard_assets, content_types_follow_the_extension) {
  for (const auto& a : all_assets()) {
    const std::string path(a.path);
    if (path.ends_with(".js")) {
      EXPECT_EQ(a.content_type, "text/javascript; charset=utf-8") << path;
    } else if (path.ends_with(".css")) {
      EXPECT_EQ(a.content_type, "text/css; charset=utf-8") << path;
    } else {
      EXPECT_EQ(path, "/index.html");
    }
    EXPECT_FALSE(a.body.empty()) << path;
  }
}

// Every file the page and its modules load is embedded: a missing one would
// leave the dashboard blank with nothing in the server's log.
TEST(dashboard_assets, everything_the_page_loads_is_embedded) {
  const std::string html = body_of("/");
  const std::regex ref(R"re((?:src|href)="(/[^"]*)")re");
  std::set<std::string> loaded;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator();
       ++it) {
    loaded.insert((*it)[1].str());
  }
  EXPECT_TRUE(loaded.contains("/assets/uPlot.iife.min.js"));
  EXPECT_TRUE(loaded.contains("/assets/uPlot.min.css"));
  EXPECT_TRUE(loaded.contains("/assets/app.js"));
  const std::regex import(R"re(from '\./([^']+)')re");
  for (const auto& a : all_assets()) {
    const std::string body(a.body);
    if (!std::string_view(a.path).ends_with(".js") || a.path.find("uPlot") != std::string::npos) {
      continue;
    }
    for (auto it = std::sregex_iterator(body.begin(), body.end(), import);
         it != std::sregex_iterator(); ++it) {
      loaded.insert("/assets/" + (*it)[1].str());
    }
  }
  EXPECT_TRUE(loaded.contains("/assets/charts.js"));
  for (const auto& path : loaded) {
    EXPECT_NE(find_asset(path), nullptr) << path << " is loaded by the page but not embedded";
  }
}

TEST(dashboard_assets, uplot_is_the_real_library) {
  const std::string js = body_of("/assets/uPlot.iife.min.js");
  EXPECT_GT(js.size(), 20000u);
  EXPECT_NE(js.find("uPlot"), std::string::npos);
  EXPECT_NE(body_of("/assets/uPlot.min.css").find(".uplot"), std::string::npos);
}

TEST(dashboard_assets, unknown_paths_are_not_found) {
  EXPECT_EQ(find_asset(""), nullptr);
  EXPECT_EQ(find_asset("/assets/"), nullptr);
  EXPECT_EQ(find_asset("/assets/../index.html"), nullptr);
  EXPECT_EQ(find_asset("/index.htm"), nullptr);
  EXPECT_EQ(find_asset("/app.js"), nullptr);  // only under /assets/
  EXPECT_EQ(find_asset("/api/v1/rollouts"), nullptr);
}

TEST(dashboard_assets, response_is_revalidated_on_every_load) {
  const auto* a = find_asset("/assets/app.js");
  ASSERT_NE(a, nullptr);
  const auto r = asset_response(*a);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, a->content_type);
  EXPECT_EQ(r.body, a->body);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Cache-Control");
  EXPECT_EQ(r.headers[0].second, "no-cache");
}

}  // namespace
}  // namespace cohort::admin
