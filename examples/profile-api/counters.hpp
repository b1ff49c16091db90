#pragma once
// Request counters of the demo backend, exposed on its own /metrics so a test
// can compare what the backend saw with what the gateway says it sent.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace cohort::profile_api {

// The path label is one of a fixed set so that a scan of random URLs cannot
// grow the exposition without bound.
enum class path_label : std::uint8_t {
  profile,
  healthz,
  metrics,
  echo,
  upload,
  stream,
  slow,
  ws,  // the WebSocket echo, counted once per handshake (101)
  other,
  count_
};
std::string_view path_label_name(path_label p);
path_label classify_path(std::string_view path);

class counters {
 public:
  void record(path_label path, unsigned status);
  std::uint64_t get(path_label path, unsigned status) const;
  // Prometheus text exposition 0.0.4.
  std::string exposition(std::string_view api, std::string_view version_label) const;

 private:
  // Slot = status code for 100..599; anything else lands in slot 0 ("other").
  static constexpr std::size_t status_slots = 600;
  static std::size_t slot(unsigned status) { return status >= 100 && status < 600 ? status : 0; }
  static constexpr std::size_t path_count = static_cast<std::size_t>(path_label::count_);
  std::array<std::array<std::atomic<std::uint64_t>, status_slots>, path_count> counts_{};
};

}  // namespace cohort::profile_api
