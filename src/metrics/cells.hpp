#pragma once
// The per-worker storage behind a shard. Every counter has exactly one writer
// (its worker), which updates it with a relaxed load and a relaxed store: no
// read-modify-write instruction, no lock prefix. Other threads only read, with
// relaxed loads, when they aggregate. Cells live in chunks allocated when a
// label set is interned (under the registry's mutex, off the request path);
// the request path finds a cell with one acquire load of a chunk pointer.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "metrics/log_linear.hpp"
#include "metrics/series_table.hpp"

namespace cohort::metrics {

template <class T>
inline void bump(std::atomic<T>& c, T by = 1) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// Exact status codes: a 16-entry open-addressed table (a route sees a handful
// of codes), anything beyond lands in other_codes.
inline constexpr std::size_t status_slots = 16;

struct request_cell {
  std::array<std::atomic<std::uint32_t>, status_slots> code_keys{};  // 0 = free
  std::array<std::atomic<std::uint64_t>, status_slots> code_counts{};
  std::atomic<std::uint64_t> other_codes{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};
  std::atomic<std::uint64_t> latency_sum_ns{0};
  std::array<std::atomic<std::uint64_t>, latency_layout::count> latency{};
};

struct upstream_cell {
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> resets{0};
  std::array<std::atomic<std::uint64_t>, breaker_count> breaker_overflows{};  // by breaker
  // WebSocket tunnels; the gauge is opened - closed.
  std::atomic<std::uint64_t> tunnels_opened{0};
  std::atomic<std::uint64_t> tunnels_closed{0};
  std::array<std::atomic<std::uint64_t>, grpc_status_count> grpc_statuses{};  // by code
  std::atomic<std::uint64_t> rate_limited{0};
};

struct failover_cell {
  std::atomic<std::uint64_t> count{0};
};

struct listener_cell {
  std::atomic<std::uint64_t> opened{0};
  std::atomic<std::uint64_t> closed{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::array<std::atomic<std::uint64_t>, protocol_count> requests{};  // by protocol
};

struct decision_cell {
  std::atomic<std::uint64_t> count{0};
};

// One second of one arm in one worker. 32-bit counts: a worker would need four
// billion requests in one second in one bucket to wrap.
inline constexpr std::uint64_t slot_empty = ~std::uint64_t{0};
inline constexpr std::uint64_t slot_busy = ~std::uint64_t{0} - 1;
inline constexpr std::size_t status_classes = 5;  // 1xx .. 5xx

struct window_slot {
  // The second the slot holds; slot_busy while its writer clears it (a seqlock:
  // readers check it before and after copying).
  std::atomic<std::uint64_t> second{slot_empty};
  std::atomic<std::uint64_t> latency_sum_ns{0};
  std::atomic<std::uint32_t> requests{0};
  std::atomic<std::uint32_t> errors{0};
  std::array<std::atomic<std::uint32_t>, status_classes> classes{};
  std::array<std::atomic<std::uint32_t>, window_layout::count> latency{};
};

// 128 one-second slots: the last two minutes, indexed by second & 127.
inline constexpr std::size_t window_slots = 128;

struct arm_ring {
  std::array<window_slot, window_slots> slots;
};

// Chunked, never-moving storage for cells indexed by series id.
template <class Cell, unsigned ChunkShift, std::size_t MaxChunks>
class cell_directory {
 public:
  static constexpr std::size_t chunk_size = std::size_t{1} << ChunkShift;
  static constexpr std::size_t capacity = chunk_size * MaxChunks;

  // nullptr for an id that was never reserved (or no_series).
  Cell* find(series_id id) const {
    if (id >= capacity) {
      return nullptr;
    }
    Cell* chunk = chunks_[id >> ChunkShift].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : chunk + (id & (chunk_size - 1));
  }

  // Makes ids [0, n) usable. Called only under the registry's mutex.
  void reserve(std::size_t n) {
    const std::size_t need = (n + chunk_size - 1) >> ChunkShift;
    while (owned_.size() < need) {
      owned_.push_back(std::make_unique<Cell[]>(chunk_size));
      chunks_[owned_.size() - 1].store(owned_.back().get(), std::memory_order_release);
    }
  }

 private:
  std::array<std::atomic<Cell*>, MaxChunks> chunks_{};
  std::vector<std::unique_ptr<Cell[]>> owned_;
};

// Capacities (ids beyond them are refused at intern time and recorded nowhere).
using request_cells = cell_directory<request_cell, 4, 256>;    // 4096 series, 5.4 KB each
using upstream_cells = cell_directory<upstream_cell, 6, 256>;  // 16384
using listener_cells = cell_directory<listener_cell, 6, 4>;    // 256
using decision_cells = cell_directory<decision_cell, 8, 256>;  // 65536
using failover_cells = cell_directory<failover_cell, 6, 256>;  // 16384
using arm_cells = cell_directory<arm_ring, 0, 1024>;           // 1024 arms, 170 KB each

}  // namespace cohort::metrics
