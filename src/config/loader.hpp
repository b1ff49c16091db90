#pragma once
// YAML text -> typed config -> validated config. Every problem is reported with
// its place (file:line:column), all of them at once, not just the first.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"

namespace cohort::config {

using diagnostics = std::vector<diagnostic>;

// Parses and validates. file_name is used in diagnostics only.
result<config, diagnostics> load_config_text(std::string_view yaml, std::string_view file_name);

// Reads the file (an unreadable file is one diagnostic at line 0) then as above.
result<config, diagnostics> load_config_file(const std::string& path);

// Names used in messages and in the admin API.
std::string_view to_string(webhook_type t);
std::string_view to_string(match_kind k);
std::string_view to_string(anonymous_policy p);

}  // namespace cohort::config
