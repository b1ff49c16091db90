#pragma once
// Working memory for one decision: on the stack for the common sizes, so a
// decoded JWT payload costs no allocation; larger inputs spill to the heap.

#include <array>
#include <cstddef>
#include <string>

namespace cohort::routing {

class scratch_buffer {
 public:
  // Room for n bytes; invalidates what an earlier call returned.
  char* reserve(std::size_t n) {
    if (n <= inline_.size()) {
      return inline_.data();
    }
    overflow_.resize(n);
    return overflow_.data();
  }

 private:
  std::array<char, 1024> inline_;
  std::string overflow_;
};

}  // namespace cohort::routing
