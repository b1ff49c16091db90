#include "config/loader.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/parsers.hpp"

namespace cohort::config {

namespace {

void parse_document(detail::context& cx, const YAML::Node& root, config& out) {
  using namespace detail;
  if (root.IsNull()) {
    // An empty document has no place of its own; the start of the file is where to look.
    cx.error(source_location{out.source_file, 1, 1},
             "the configuration is empty (it needs at least gateway.listeners)");
    return;
  }
  object o(cx, root, "configuration",
           {"gateway", "admin", "state", "services", "routes", "rollouts"});
  o.check_keys();
  if (!o.is_map()) {
    return;
  }
  if (const field* f = o.require("gateway")) {
    parse_gateway(cx, *f, out.gateway);
  }
  out.admin.where = o.where();
  if (const field* f = o.find("admin")) {
    parse_admin(cx, *f, out.admin);
  }
  out.state.where = o.where();
  if (const field* f = o.find("state")) {
    parse_state(cx, *f, out.state);
  }
  // Order matters: rollouts refer to services, routes to both.
  if (const field* f = o.find("services")) {
    parse_services(cx, *f, out.services);
  }
  if (const field* f = o.find("rollouts")) {
    parse_rollouts(cx, *f, out.services, out.rollouts);
  }
  if (const field* f = o.find("routes")) {
    parse_routes(cx, *f, out.services, out.rollouts, out.routes);
  }
}

}  // namespace

result<config, diagnostics> load_config_text(std::string_view yaml, std::string_view file_name) {
  detail::context cx{std::string(file_name)};
  config out;
  out.source_file = std::string(file_name);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    parse_document(cx, root, out);
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports syntax errors (and nothing else we call) by exception.
    cx.error(cx.where(e.mark), "YAML syntax error: " + e.msg);
  }
  diagnostics problems = cx.take();
  if (!problems.empty()) {
    return problems;
  }
  return out;
}

result<config, diagnostics> load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return diagnostics{diagnostic{source_location{path, 0, 0},
                                  std::string("cannot read the file: ") + std::strerror(err)}};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return diagnostics{diagnostic{source_location{path, 0, 0}, "cannot read the file"}};
  }
  return load_config_text(text.str(), path);
}

}  // namespace cohort::config
