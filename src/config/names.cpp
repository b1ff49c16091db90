#include "config/loader.hpp"

namespace cohort::config {

std::string_view to_string(webhook_type t) {
  switch (t) {
    case webhook_type::confirm_rollout:
      return "confirm-rollout";
    case webhook_type::pre_rollout:
      return "pre-rollout";
    case webhook_type::rollout:
      return "rollout";
    case webhook_type::confirm_promotion:
      return "confirm-promotion";
    case webhook_type::post_rollout:
      return "post-rollout";
    case webhook_type::rollback:
      return "rollback";
    case webhook_type::event:
      return "event";
  }
  return "event";
}

std::string_view to_string(match_kind k) {
  switch (k) {
    case match_kind::exact:
      return "exact";
    case match_kind::prefix:
      return "prefix";
    case match_kind::suffix:
      return "suffix";
    case match_kind::regex:
      return "regex";
    case match_kind::present:
      return "present";
    case match_kind::absent:
      return "absent";
    case match_kind::semver:
      return "semver";
  }
  return "exact";
}

std::string_view to_string(anonymous_policy p) {
  switch (p) {
    case anonymous_policy::cookie:
      return "cookie";
    case anonymous_policy::random:
      return "random";
    case anonymous_policy::stable:
      return "stable";
  }
  return "cookie";
}

}  // namespace cohort::config
