#pragma once
// What the run saw: counts per status, version and cohort, which versions each
// user saw (and when a user switched), latencies, errors. Single-threaded: the
// load generator runs on one event loop.

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "latency_histogram.hpp"
#include "population.hpp"

namespace cohort::loadgen {

enum class failure : std::uint8_t {
  connect,   // could not open a connection
  timeout,   // --timeout passed before the whole response arrived
  io,        // connection reset or closed mid-exchange, or an unparsable response
  dropped,   // the chosen connection's queue was full: the target is far behind
  abandoned  // still queued one --timeout after the run ended
};

class tally {
 public:
  explicit tally(const std::vector<user>& population);

  void sent() { ++sent_; }
  // A complete response. version is empty when the response named none.
  void response(const user& u, unsigned status, std::string_view version, double latency_ms,
                double at_s);
  void fail(failure f) { ++failures_[static_cast<std::size_t>(f)]; }

  std::uint64_t requests_sent() const { return sent_; }
  std::uint64_t responses() const { return responses_; }
  std::uint64_t failures(failure f) const { return failures_[static_cast<std::size_t>(f)]; }
  std::uint64_t multi_version_users() const { return multi_version_users_; }

  // One line: elapsed, sent, per-version counts, errors, multi-version users.
  std::string progress_line(double elapsed_s) const;
  // The final report. send_window_s is the time requests were handed out (the
  // achieved rate is measured over it); run facts (target, rate...) come from the caller.
  struct run_facts {
    std::string target;
    std::string path;
    std::uint32_t users = 0;
    double target_rate = 0;
    std::uint32_t connections = 0;
    std::uint64_t seed = 0;
    double timeout_s = 0;
  };
  std::string report_json(double send_window_s, double elapsed_s, const run_facts& run) const;
  std::string report_text(double send_window_s, double elapsed_s) const;

 private:
  struct user_seen {
    std::uint32_t versions = 0;  // bit i: version index i (the first 32 versions)
    std::int16_t last = -1;      // version index of the last answer
  };
  struct transition {
    std::uint64_t switches = 0;
    std::uint64_t users = 0;  // users that made this switch at least once
    double first_s = 0;
    double last_s = 0;
    std::map<std::uint64_t, std::uint64_t> by_second;  // whole seconds since the start
  };

  std::int16_t version_index(std::string_view version);
  std::uint64_t non_2xx() const;
  std::uint64_t errors_total() const;

  std::uint64_t sent_ = 0;
  std::uint64_t responses_ = 0;
  std::array<std::uint64_t, 5> failures_{};
  std::map<unsigned, std::uint64_t> by_status_;
  std::vector<std::string> version_names_;
  std::vector<std::uint64_t> by_version_;
  std::array<std::vector<std::uint64_t>, cohort_count> by_cohort_version_;
  std::array<std::uint64_t, cohort_count> cohort_users_{};
  std::array<std::uint64_t, cohort_count> cohort_multi_{};
  std::uint64_t unversioned_ = 0;
  std::vector<user_seen> users_;
  std::vector<std::uint64_t> users_per_version_;
  std::uint64_t multi_version_users_ = 0;
  std::map<std::string, transition> transitions_;
  std::set<std::pair<std::uint32_t, std::string>> user_transitions_;
  latency_histogram latency_;
};

}  // namespace cohort::loadgen
