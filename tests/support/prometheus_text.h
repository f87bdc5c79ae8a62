// A strict parser of the Prometheus text exposition format 0.0.4, for tests that check what a
// /metrics endpoint or MetricsRegistry::RenderText produces.
//
// Stricter than Prometheus itself, so that anything our renderer gets subtly wrong fails a
// test: every sample must follow a # TYPE line of its family, a family's lines must be
// contiguous, and histograms must be complete and consistent. Rejected, with an
// InvalidArgument naming the line ("line 7: ..."):
//  - bad metric or label names, bad label syntax, escapes other than \\ \" \n in label values
//    (\\ \n in HELP), duplicate label names in one sample;
//  - a sample with no # TYPE before it, a second # TYPE or # HELP for one name, a # TYPE or
//    # HELP after the family's samples, an unknown type, samples of a family split by others;
//  - values that are not floats (Go syntax: also +Inf, -Inf, NaN), timestamps that are not
//    integers, anything after the timestamp, a negative or NaN counter;
//  - the same series (name and label set) twice;
//  - histograms: a _bucket without le, le that does not parse or does not increase, bucket
//    counts that decrease, no le="+Inf" bucket, a missing _sum or _count, _count that differs
//    from the +Inf bucket, le on _sum/_count;
//  - text that does not end in a newline.
// Never crashes, whatever the input. Thread-safe (a pure function).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardmesh/common/status.h"

namespace shardmesh::testing {

struct PromSample {
  std::string name;                                         // full sample name, e.g. "x_bucket"
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped, in text order
  double value = 0.0;
  int line = 0;  // 1-based line number in the text

  // The value of label `key`, or nullopt.
  std::optional<std::string> Label(std::string_view key) const;
};

struct PromFamily {
  std::string name;
  std::string type;  // counter | gauge | histogram | summary | untyped
  std::string help;  // unescaped; empty if there was no # HELP
  std::vector<PromSample> samples;
};

struct PromExposition {
  std::vector<PromFamily> families;  // in text order

  // The family named `name`, or nullptr.
  const PromFamily* Find(std::string_view name) const;
  // The value of the sample `name` whose label set is exactly `labels` (any order), or
  // nullopt if there is no such sample.
  std::optional<double> Value(
      std::string_view name,
      const std::vector<std::pair<std::string, std::string>>& labels = {}) const;
};

// Parses `text`; InvalidArgument "line N: <what>" on the first problem found.
Result<PromExposition> ParsePrometheusText(std::string_view text);

}  // namespace shardmesh::testing
