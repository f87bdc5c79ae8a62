// Clock: the one source of time for protocols and loaders, so tests can run on a manual clock
// and never sleep.
//
// Thread-safety: SystemClock is stateless and thread-safe. ManualClock is thread-safe (an
// atomic tick count): any thread may read it while a test thread advances it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace shardmesh {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time; never goes backwards.
  virtual TimePoint Now() const = 0;
  // Wall-clock milliseconds since the Unix epoch, for timestamps written to files and logs.
  virtual std::int64_t WallMillis() const = 0;
};

// The real clock: std::chrono::steady_clock and system_clock.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
  std::int64_t WallMillis() const override;
  // A process-wide instance.
  static SystemClock& Instance();
};

// A clock that moves only when told to. Starts at a fixed, non-zero time point.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint(std::chrono::seconds(1000)))
      : ticks_(start.time_since_epoch().count()) {}

  TimePoint Now() const override { return TimePoint(Duration(ticks_.load())); }
  std::int64_t WallMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Duration(ticks_.load())).count();
  }
  void Advance(Duration d) { ticks_.fetch_add(d.count()); }
  void Set(TimePoint t) { ticks_.store(t.time_since_epoch().count()); }

 private:
  std::atomic<std::int64_t> ticks_;
};

}  // namespace shardmesh
