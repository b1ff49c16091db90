#include "routing/explain.hpp"

#include "routing/compiled.hpp"

namespace cohort::routing {

namespace {

template <class T>
bool in_range(const std::vector<T>& v, std::int32_t i) {
  return i >= 0 && static_cast<std::size_t>(i) < v.size();
}

}  // namespace

std::string_view route_name(const snapshot& snap, std::int32_t route) {
  return in_range(snap.routes(), route) ? std::string_view(snap.routes()[route]->name)
                                        : std::string_view{};
}

std::string_view rollout_name(const snapshot& snap, std::int32_t rollout) {
  return in_range(snap.rollouts(), rollout) ? std::string_view(snap.rollouts()[rollout]->name)
                                            : std::string_view{};
}

std::string_view service_name(const snapshot& snap, std::int32_t service) {
  return in_range(snap.services(), service) ? std::string_view(snap.services()[service].name)
                                            : std::string_view{};
}

std::string_view subset_name(const snapshot& snap, const decision& d) {
  if (!in_range(snap.services(), d.service)) {
    return {};
  }
  const auto& subsets = snap.services()[static_cast<std::size_t>(d.service)].subsets;
  return d.subset < subsets.size() ? std::string_view(subsets[d.subset].name) : std::string_view{};
}

explanation describe(const decision& d, const snapshot& snap) {
  explanation e;
  e.routed = d.kind != reason_kind::no_route;
  e.route = route_name(snap, d.route);
  e.service = service_name(snap, d.service);
  e.subset = e.routed ? subset_name(snap, d) : std::string_view{};
  e.rollout = rollout_name(snap, d.rollout);
  e.reason = d.reason();
  e.reason_label = reason_label(d.kind);
  const bool bucketed = d.kind == reason_kind::bucket_canary ||
                        d.kind == reason_kind::bucket_stable || d.kind == reason_kind::baseline ||
                        d.has_key || (d.kind == reason_kind::anonymous && d.name == "random");
  if (bucketed) {
    e.bucket = d.bucket;
  }
  e.weight = d.weight;
  e.has_key = d.has_key;
  e.key_hash = d.key_hash;
  e.new_anonymous_id = d.new_anonymous_id_view();
  return e;
}

explanation explain(const request_view& request, const snapshot& snap, std::uint64_t random) {
  return describe(decide(request, snap, random), snap);
}

}  // namespace cohort::routing
