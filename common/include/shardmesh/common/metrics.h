// MetricsRegistry: named counters, gauges and histograms rendered in the Prometheus text
// exposition format 0.0.4, for a worker's /metrics endpoint.
//
// Two kinds of series:
//  - owned metrics (Counter, Gauge, Histogram): the registry owns them and hands out a pointer
//    that stays valid as long as the registry; updating one is a few relaxed atomic operations,
//    lock-free, safe from any thread, and never touches the registry.
//  - callback series: a function read at scrape time, so a component that already keeps its
//    own statistics (LoaderStats, ExchangeStats, MeshStatus) is exported without adding work
//    to its hot path. Scrape hooks run once at the start of each RenderText, before any
//    callback, so several callbacks can read one consistent snapshot.
//
// Series that share a name form one family, rendered under one # HELP / # TYPE block; they
// must agree on type and help and differ in their labels. Metric names must match
// [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* without a leading "__" (reserved
// by Prometheus); counter names must end in "_total", and "le" is reserved for histogram buckets.
// An empty help omits the # HELP line (valid, but promtool's linter asks for one).
//
// Thread-safety: every method is thread-safe. Registration and RenderText serialise on one
// mutex; RenderText calls the hooks and callbacks under it, so they must not call back into the
// registry (that deadlocks), and they run on the scraping thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardmesh/common/status.h"

namespace shardmesh {

// One label of a series, e.g. {"peer", "worker-3"}. Values may hold any UTF-8 text; the
// renderer escapes backslash, double quote and newline.
struct MetricLabel {
  std::string key;
  std::string value;
};
using MetricLabels = std::vector<MetricLabel>;

// A monotonically increasing count. Lock-free.
class Counter {
 public:
  void Inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down. Lock-free (Add is a compare-and-swap loop on x86-64).
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Inc() { Add(1.0); }
  void Dec() { Add(-1.0); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Bucket counts of a histogram at one moment, as a histogram callback returns them.
struct HistogramSnapshot {
  // Per bucket, NOT cumulative: counts[i] observations fell in (bounds[i-1], bounds[i]]; the
  // last entry, counts[bounds.size()], is the overflow bucket (above the largest bound). This is
  // how ExchangeStats::latency_buckets is laid out. The renderer makes them cumulative, adds
  // le="+Inf", and renders _count as the sum of all entries.
  std::vector<std::uint64_t> counts;
  double sum = 0.0;  // sum of all observed values, in the unit of the bounds
};

// Observations counted in fixed buckets with upper bounds `bounds` (inclusive, as Prometheus'
// le). Observe is lock-free: a binary search over the immutable bounds, then two relaxed atomic
// adds. A scrape racing with Observe may see the bucket count before the sum moves; _count is
// always the sum of the buckets it rendered, so +Inf and _count agree.
class Histogram {
 public:
  // `bounds` must be strictly increasing and finite (MetricsRegistry checks it).
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  HistogramSnapshot Snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1 entries
  std::atomic<double> sum_{0.0};
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Each Add* returns a pointer owned by the registry and valid for its lifetime. Errors, all
  // naming the metric: InvalidArgument for a bad metric or label name, a duplicate label key,
  // a counter name without "_total", a "le" label, unsorted or non-finite bounds, or a family
  // registered before with another type or help; AlreadyExists for a series (name and label
  // set) registered twice or a name that collides with a histogram's _bucket/_sum/_count.
  Result<Counter*> AddCounter(std::string_view name, std::string_view help,
                              MetricLabels labels = {});
  Result<Gauge*> AddGauge(std::string_view name, std::string_view help, MetricLabels labels = {});
  // `bounds` in the unit of the observed values (Prometheus convention: seconds, bytes).
  Result<Histogram*> AddHistogram(std::string_view name, std::string_view help,
                                  std::vector<double> bounds, MetricLabels labels = {});

  // Series whose value `read` returns at scrape time. A counter callback must return a value
  // that never decreases (for example a uint64 statistic converted to double). Same errors as
  // above; InvalidArgument if `read` is empty.
  Status AddCounterCallback(std::string_view name, std::string_view help, MetricLabels labels,
                            std::function<double()> read);
  Status AddGaugeCallback(std::string_view name, std::string_view help, MetricLabels labels,
                          std::function<double()> read);
  // A histogram whose buckets `read` returns at scrape time, for a component that already
  // keeps its own (see HistogramSnapshot for the layout). A snapshot whose counts do not have
  // bounds.size() + 1 entries renders as no samples, plus a comment naming the mismatch.
  Status AddHistogramCallback(std::string_view name, std::string_view help,
                              std::vector<double> bounds, MetricLabels labels,
                              std::function<HistogramSnapshot()> read);

  // Runs `hook` once at the start of every RenderText, in registration order, before any
  // callback is read: take one snapshot of a component's statistics there, and let several
  // callbacks read fields of it. InvalidArgument if `hook` is empty.
  Status AddScrapeHook(std::function<void()> hook);

  // The whole registry in text format 0.0.4: families in registration order, series of a family
  // in registration order, every line ending in '\n'. Never fails; NaN and infinities render
  // as NaN, +Inf and -Inf.
  std::string RenderText() const;

  // The Content-Type an HTTP server must send with RenderText's output.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Series;
  struct Family;

  // Validates `series` (its labels, and its bounds for a histogram) and appends it to family
  // `name`, creating the family if it is new. `type` is the TYPE keyword ("counter", "gauge",
  // "histogram"). The errors listed for the Add* methods.
  Status AddSeries(std::string_view name, std::string_view help, std::string_view type,
                   std::unique_ptr<Series> series);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;  // guarded by mu_
  std::vector<std::function<void()>> hooks_;       // guarded by mu_
};

// Whether `name` is a valid Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsValidMetricName(std::string_view name);
// Whether `name` is a valid Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*, not "__"-prefixed.
bool IsValidLabelName(std::string_view name);

}  // namespace shardmesh
