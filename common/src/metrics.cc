#include "shardmesh/common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace shardmesh {

struct MetricsRegistry::Series {
  MetricLabels labels;
  std::vector<double> bounds;  // histograms only
  // Exactly one of these is set.
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> read_value;
  std::function<HistogramSnapshot()> read_histogram;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  std::string_view type;  // one of the k*Type keywords
  std::vector<std::unique_ptr<Series>> series;
};

namespace {

bool IsNameStart(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool IsNameChar(char c, bool allow_colon) {
  return IsNameStart(c, allow_colon) || (c >= '0' && c <= '9');
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

constexpr std::string_view kCounterType = "counter";
constexpr std::string_view kGaugeType = "gauge";
constexpr std::string_view kHistogramType = "histogram";

// The sample names a family renders: a histogram also owns name_bucket, name_sum, name_count,
// and two families must not both render one of them.
std::vector<std::string> SampleNames(std::string_view name, bool histogram) {
  std::vector<std::string> names{std::string(name)};
  if (histogram) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      names.push_back(std::string(name) + suffix);
    }
  }
  return names;
}

// Formats like Go's strconv.FormatFloat(v, 'g', -1, 64), as Prometheus' own clients do, so
// that le labels read "0.0001" and "1e+06" here as everywhere else and queries on them match.
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  const auto sci = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  const std::string_view shortest(buf, sci.ptr - buf);
  const std::size_t e = shortest.find('e');
  int exponent = 0;
  if (e != std::string_view::npos) {
    std::string_view digits = shortest.substr(e + 1);
    if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
    std::from_chars(digits.data(), digits.data() + digits.size(), exponent);
  }
  if (exponent < -4 || exponent >= 6) {
    out += shortest;
    return;
  }
  const auto fixed = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  out.append(buf, fixed.ptr - buf);
}

void AppendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// `name{k="v",...,le="..."}` followed by a space; `le` is appended when not null.
void AppendSeriesName(std::string& out, std::string_view name, const MetricLabels& labels,
                      const std::string* le) {
  out += name;
  if (!labels.empty() || le != nullptr) {
    out += '{';
    bool first = true;
    for (const MetricLabel& label : labels) {
      if (!first) out += ',';
      first = false;
      out += label.key;
      out += "=\"";
      AppendLabelValue(out, label.value);
      out += '"';
    }
    if (le != nullptr) {
      if (!first) out += ',';
      out += "le=\"";
      out += *le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void AppendHistogram(std::string& out, std::string_view name, const MetricLabels& labels,
                     const std::vector<double>& bounds, const HistogramSnapshot& snapshot) {
  if (snapshot.counts.size() != bounds.size() + 1) {
    out += "# shardmesh: histogram ";
    out += name;
    out += " snapshot has " + std::to_string(snapshot.counts.size()) + " buckets, expected " +
           std::to_string(bounds.size() + 1) + "\n";
    return;
  }
  const std::string bucket_name = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += snapshot.counts[i];
    std::string le;
    if (i < bounds.size()) {
      AppendDouble(le, bounds[i]);
    } else {
      le = "+Inf";
    }
    AppendSeriesName(out, bucket_name, labels, &le);
    out += std::to_string(cumulative);
    out += '\n';
  }
  AppendSeriesName(out, std::string(name) + "_sum", labels, nullptr);
  AppendDouble(out, snapshot.sum);
  out += '\n';
  AppendSeriesName(out, std::string(name) + "_count", labels, nullptr);
  out += std::to_string(cumulative);
  out += '\n';
}

Status ValidateLabels(std::string_view name, const MetricLabels& labels) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::string& key = labels[i].key;
    if (!IsValidLabelName(key)) {
      return Status::InvalidArgument("metric " + std::string(name) + ": invalid label name '" +
                                     key + "'");
    }
    if (key == "le") {
      return Status::InvalidArgument("metric " + std::string(name) +
                                     ": label 'le' is reserved for histogram buckets");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (labels[j].key == key) {
        return Status::InvalidArgument("metric " + std::string(name) + ": label '" + key +
                                       "' given twice");
      }
    }
  }
  return Status::OK();
}

Status ValidateBounds(std::string_view name, const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return Status::InvalidArgument("histogram " + std::string(name) + ": bound " +
                                     std::to_string(i) + " is not finite (+Inf is implicit)");
    }
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      return Status::InvalidArgument("histogram " + std::string(name) + ": bounds not strictly " +
                                     "increasing at index " + std::to_string(i));
    }
  }
  return Status::OK();
}

bool SameLabelSet(const MetricLabels& a, const MetricLabels& b) {
  if (a.size() != b.size()) return false;
  for (const MetricLabel& x : a) {
    const bool found = std::any_of(b.begin(), b.end(), [&](const MetricLabel& y) {
      return y.key == x.key && y.value == x.value;
    });
    if (!found) return false;
  }
  return true;
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0], /*allow_colon=*/true)) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameChar(c, true); });
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0], /*allow_colon=*/false)) return false;
  if (name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameChar(c, false); });
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  // lower_bound finds the first bound >= value: Prometheus buckets are "less or equal".
  const std::size_t bucket =
      std::isnan(value)
          ? bounds_.size()
          : static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                     bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot snapshot;
  snapshot.counts.resize(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    snapshot.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Status MetricsRegistry::AddSeries(std::string_view name, std::string_view help,
                                  std::string_view type, std::unique_ptr<Series> series) {
  if (!IsValidMetricName(name)) {
    return Status::InvalidArgument("invalid metric name '" + std::string(name) +
                                   "' (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  if (type == kCounterType && !EndsWith(name, "_total")) {
    return Status::InvalidArgument("counter " + std::string(name) + ": name must end in _total");
  }
  SHARDMESH_RETURN_IF_ERROR(ValidateLabels(name, series->labels));
  if (type == kHistogramType) SHARDMESH_RETURN_IF_ERROR(ValidateBounds(name, series->bounds));

  std::lock_guard<std::mutex> lock(mu_);
  Family* family = nullptr;
  for (const auto& f : families_) {
    if (f->name == name) family = f.get();
  }
  if (family != nullptr) {
    if (family->type != type) {
      return Status::InvalidArgument("metric " + std::string(name) + " already registered as a " +
                                     std::string(family->type));
    }
    if (family->help != help) {
      return Status::InvalidArgument("metric " + std::string(name) +
                                     " already registered with another help text");
    }
    for (const auto& s : family->series) {
      if (SameLabelSet(s->labels, series->labels)) {
        return Status::AlreadyExists("metric " + std::string(name) +
                                     ": a series with these labels is already registered");
      }
    }
    family->series.push_back(std::move(series));
    return Status::OK();
  }
  const std::vector<std::string> mine = SampleNames(name, type == kHistogramType);
  for (const auto& f : families_) {
    for (const std::string& theirs : SampleNames(f->name, f->type == kHistogramType)) {
      if (std::find(mine.begin(), mine.end(), theirs) != mine.end()) {
        return Status::AlreadyExists("metric " + std::string(name) + " collides with sample " +
                                     theirs + " of metric " + f->name);
      }
    }
  }
  auto created = std::make_unique<Family>();
  created->name = std::string(name);
  created->help = std::string(help);
  created->type = type;
  created->series.push_back(std::move(series));
  families_.push_back(std::move(created));
  return Status::OK();
}

Result<Counter*> MetricsRegistry::AddCounter(std::string_view name, std::string_view help,
                                             MetricLabels labels) {
  auto series = std::make_unique<Series>();
  series->labels = std::move(labels);
  series->counter = std::make_unique<Counter>();
  Counter* counter = series->counter.get();
  SHARDMESH_RETURN_IF_ERROR(AddSeries(name, help, kCounterType, std::move(series)));
  return counter;
}

Result<Gauge*> MetricsRegistry::AddGauge(std::string_view name, std::string_view help,
                                         MetricLabels labels) {
  auto series = std::make_unique<Series>();
  series->labels = std::move(labels);
  series->gauge = std::make_unique<Gauge>();
  Gauge* gauge = series->gauge.get();
  SHARDMESH_RETURN_IF_ERROR(AddSeries(name, help, kGaugeType, std::move(series)));
  return gauge;
}

Result<Histogram*> MetricsRegistry::AddHistogram(std::string_view name, std::string_view help,
                                                 std::vector<double> bounds, MetricLabels labels) {
  auto series = std::make_unique<Series>();
  series->labels = std::move(labels);
  series->bounds = bounds;
  series->histogram = std::make_unique<Histogram>(std::move(bounds));
  Histogram* histogram = series->histogram.get();
  SHARDMESH_RETURN_IF_ERROR(AddSeries(name, help, kHistogramType, std::move(series)));
  return histogram;
}

Status MetricsRegistry::AddCounterCallback(std::string_view name, std::string_view help,
                                           MetricLabels labels, std::function<double()> read) {
  if (!read) return Status::InvalidArgument("counter " + std::string(name) + ": empty callback");
  auto series = std::make_unique<Series>();
  series->labels = std::move(labels);
  series->read_value = std::move(read);
  return AddSeries(name, help, kCounterType, std::move(series));
}

Status MetricsRegistry::AddGaugeCallback(std::string_view name, std::string_view help,
                                         MetricLabels labels, std::function<double()> read) {
  if (!read) return Status::InvalidArgument("gauge " + std::string(name) + ": empty callback");
  auto series = std::make_unique<Series>();
  series->labels = std::move(labels);
  series->read_value = std::move(read);
  return AddSeries(name, help, kGaugeType, std::move(series));
}

Status MetricsRegistry::AddHistogramCallback(std::string_view name, std::string_view help,
                                             std::vector<double> bounds, MetricLabels labels,
                                             std::function<HistogramSnapshot()> read) {
  if (!read) {
    return Status::InvalidArgument("histogram " + std::string(name) + ": empty callback");
  }
  auto series = std::make_unique<Series>();
  series->labels = std::move(labels);
  series->bounds = std::move(bounds);
  series->read_histogram = std::move(read);
  return AddSeries(name, help, kHistogramType, std::move(series));
}

Status MetricsRegistry::AddScrapeHook(std::function<void()> hook) {
  if (!hook) return Status::InvalidArgument("empty scrape hook");
  std::lock_guard<std::mutex> lock(mu_);
  hooks_.push_back(std::move(hook));
  return Status::OK();
}

std::string MetricsRegistry::RenderText() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& hook : hooks_) hook();
  std::string out;
  for (const auto& family : families_) {
    if (!family->help.empty()) {
      out += "# HELP ";
      out += family->name;
      out += ' ';
      AppendHelp(out, family->help);
      out += '\n';
    }
    out += "# TYPE ";
    out += family->name;
    out += ' ';
    out += family->type;
    out += '\n';
    for (const auto& series : family->series) {
      if (family->type == kHistogramType) {
        const HistogramSnapshot snapshot =
            series->histogram ? series->histogram->Snapshot() : series->read_histogram();
        AppendHistogram(out, family->name, series->labels, series->bounds, snapshot);
        continue;
      }
      AppendSeriesName(out, family->name, series->labels, nullptr);
      if (series->counter) {
        out += std::to_string(series->counter->Value());
      } else if (series->gauge) {
        AppendDouble(out, series->gauge->Value());
      } else {
        AppendDouble(out, series->read_value());
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace shardmesh
