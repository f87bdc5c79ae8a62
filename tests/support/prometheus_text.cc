#include "prometheus_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>

namespace shardmesh::testing {

std::optional<std::string> PromSample::Label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return std::nullopt;
}

const PromFamily* PromExposition::Find(std::string_view name) const {
  for (const PromFamily& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

std::optional<double> PromExposition::Value(
    std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels) const {
  auto sorted_wanted = labels;
  std::sort(sorted_wanted.begin(), sorted_wanted.end());
  for (const PromFamily& family : families) {
    for (const PromSample& sample : family.samples) {
      if (sample.name != name) continue;
      auto sorted = sample.labels;
      std::sort(sorted.begin(), sorted.end());
      if (sorted == sorted_wanted) return sample.value;
    }
  }
  return std::nullopt;
}

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsMetricName(std::string_view s) {
  if (s.empty() || !(IsAlpha(s[0]) || s[0] == ':')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlpha(c) || IsDigit(c) || c == ':'; });
}

bool IsLabelName(std::string_view s) {
  // "__"-prefixed names are reserved for Prometheus' internal labels.
  if (s.empty() || !IsAlpha(s[0]) || s.starts_with("__")) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAlpha(c) || IsDigit(c); });
}

// A float as Go's strconv.ParseFloat reads it in Prometheus: decimal or exponent notation, an
// optional sign, and Inf/NaN in any case.
std::optional<double> ParseFloat(std::string_view s) {
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) return std::nullopt;
  }
  if (s.empty()) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::int64_t> ParseInt(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

struct FamilyState {
  std::size_t index = 0;  // into PromExposition::families
  bool has_type = false;
  bool has_help = false;
  bool closed = false;  // another family's lines came after this one's
};

class Parser {
 public:
  Result<PromExposition> Run(std::string_view text) {
    int line_number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
      ++line_number;
      const std::size_t newline = text.find('\n', pos);
      if (newline == std::string_view::npos) {
        return Error(line_number, "text does not end with a newline");
      }
      line_ = line_number;
      SHARDMESH_RETURN_IF_ERROR(ParseLine(text.substr(pos, newline - pos)));
      pos = newline + 1;
    }
    if (current_ != nullptr) SHARDMESH_RETURN_IF_ERROR(CloseFamily(*current_));
    return std::move(out_);
  }

 private:
  Status Error(int line, const std::string& what) const {
    return Status::InvalidArgument("line " + std::to_string(line) + ": " + what);
  }
  Status Error(const std::string& what) const { return Error(line_, what); }

  Status ParseLine(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && IsBlank(line[i])) ++i;
    if (i == line.size()) return Status::OK();
    if (line[i] == '#') return ParseComment(line.substr(i + 1));
    return ParseSample(line.substr(i));
  }

  // Splits off the next blank-separated token of `rest`.
  static std::string_view NextToken(std::string_view& rest) {
    std::size_t i = 0;
    while (i < rest.size() && IsBlank(rest[i])) ++i;
    std::size_t j = i;
    while (j < rest.size() && !IsBlank(rest[j])) ++j;
    const std::string_view token = rest.substr(i, j - i);
    rest = rest.substr(j);
    return token;
  }

  Status ParseComment(std::string_view rest) {
    const std::string_view keyword = NextToken(rest);
    if (keyword != "HELP" && keyword != "TYPE") return Status::OK();  // a plain comment
    const std::string_view name = NextToken(rest);
    if (!IsMetricName(name)) {
      return Error("invalid metric name " + Quote(name) + " in # " + std::string(keyword));
    }
    SHARDMESH_ASSIGN_OR_RETURN(FamilyState * state, EnterFamily(name, keyword));
    PromFamily& family = out_.families[state->index];
    if (keyword == "TYPE") {
      if (state->has_type) return Error("second # TYPE for " + std::string(name));
      const std::string_view type = NextToken(rest);
      if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
          type != "untyped") {
        return Error("unknown type " + Quote(type) + " for " + std::string(name));
      }
      if (!NextToken(rest).empty()) return Error("text after the type of " + std::string(name));
      state->has_type = true;
      family.type = std::string(type);
      return Status::OK();
    }
    if (state->has_help) return Error("second # HELP for " + std::string(name));
    state->has_help = true;
    // The docstring starts after one blank; only \\ and \n are escapes in HELP.
    if (!rest.empty()) rest.remove_prefix(1);
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] != '\\') {
        family.help += rest[i];
        continue;
      }
      if (i + 1 == rest.size()) return Error("HELP of " + std::string(name) + " ends in '\\'");
      const char e = rest[++i];
      if (e == '\\') {
        family.help += '\\';
      } else if (e == 'n') {
        family.help += '\n';
      } else {
        return Error("invalid escape '\\" + std::string(1, e) + "' in HELP of " +
                     std::string(name));
      }
    }
    return Status::OK();
  }

  // The family `name` named by a # HELP or # TYPE line, created if new; errors if its lines
  // would not be contiguous or its samples already started.
  Result<FamilyState*> EnterFamily(std::string_view name, std::string_view keyword) {
    auto it = states_.find(std::string(name));
    if (it == states_.end()) {
      for (const auto& [other, state] : states_) {
        const std::string& type = out_.families[state.index].type;
        if ((type == "histogram" || type == "summary") &&
            (std::string(name) == other + "_sum" || std::string(name) == other + "_count" ||
             (type == "histogram" && std::string(name) == other + "_bucket"))) {
          return Error("metric " + std::string(name) + " collides with the samples of " + type +
                       " " + other);
        }
      }
      if (current_ != nullptr) SHARDMESH_RETURN_IF_ERROR(CloseFamily(*current_));
      PromFamily family;
      family.name = std::string(name);
      out_.families.push_back(std::move(family));
      FamilyState state;
      state.index = out_.families.size() - 1;
      it = states_.emplace(std::string(name), state).first;
      current_ = &it->second;
      return &it->second;
    }
    FamilyState* state = &it->second;
    if (state != current_ || state->closed) {
      return Error("# " + std::string(keyword) + " for " + std::string(name) +
                   " is apart from the family's other lines");
    }
    if (!out_.families[state->index].samples.empty()) {
      return Error("# " + std::string(keyword) + " for " + std::string(name) +
                   " after its samples");
    }
    return state;
  }

  Status ParseSample(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && (IsAlpha(line[i]) || IsDigit(line[i]) || line[i] == ':')) ++i;
    PromSample sample;
    sample.line = line_;
    sample.name = std::string(line.substr(0, i));
    if (!IsMetricName(sample.name)) {
      return Error("invalid metric name at " +
                   Quote(line.substr(0, std::min<std::size_t>(line.size(), 40))));
    }
    std::string_view rest = line.substr(i);
    if (!rest.empty() && rest[0] == '{') {
      rest.remove_prefix(1);
      SHARDMESH_RETURN_IF_ERROR(ParseLabels(rest, sample));
    }
    if (rest.empty() || !IsBlank(rest[0])) {
      return Error("expected a blank and a value after " + sample.name);
    }
    const std::string_view value = NextToken(rest);
    const std::optional<double> parsed = ParseFloat(value);
    if (!parsed) return Error("value " + Quote(value) + " of " + sample.name + " is not a float");
    sample.value = *parsed;
    const std::string_view timestamp = NextToken(rest);
    if (!timestamp.empty() && !ParseInt(timestamp)) {
      return Error("timestamp " + Quote(timestamp) + " of " + sample.name + " is not an integer");
    }
    if (!NextToken(rest).empty()) return Error("unexpected text after the sample " + sample.name);
    return AddSample(std::move(sample));
  }

  // Parses `name="value",...}` (the '{' already consumed), leaving `rest` after the '}'.
  Status ParseLabels(std::string_view& rest, PromSample& sample) {
    std::size_t i = 0;
    auto skip_blanks = [&] {
      while (i < rest.size() && IsBlank(rest[i])) ++i;
    };
    while (true) {
      skip_blanks();
      if (i == rest.size()) return Error("unterminated label set of " + sample.name);
      if (rest[i] == '}') break;
      const std::size_t start = i;
      while (i < rest.size() && (IsAlpha(rest[i]) || IsDigit(rest[i]))) ++i;
      const std::string label_name(rest.substr(start, i - start));
      if (!IsLabelName(label_name)) {
        return Error("invalid label name at " + Quote(rest.substr(start, 20)) + " in " +
                     sample.name);
      }
      if (sample.Label(label_name)) {
        return Error("label " + label_name + " given twice in " + sample.name);
      }
      skip_blanks();
      if (i == rest.size() || rest[i] != '=') {
        return Error("expected '=' after label " + label_name + " in " + sample.name);
      }
      ++i;
      skip_blanks();
      if (i == rest.size() || rest[i] != '"') {
        return Error("expected '\"' to open the value of label " + label_name + " in " +
                     sample.name);
      }
      ++i;
      std::string value;
      bool closed = false;
      while (i < rest.size()) {
        const char c = rest[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c != '\\') {
          value += c;
          continue;
        }
        if (i == rest.size()) break;
        const char e = rest[i++];
        if (e == '\\') {
          value += '\\';
        } else if (e == '"') {
          value += '"';
        } else if (e == 'n') {
          value += '\n';
        } else {
          return Error("invalid escape '\\" + std::string(1, e) + "' in label " + label_name +
                       " of " + sample.name);
        }
      }
      if (!closed) return Error("unterminated value of label " + label_name + " in " + sample.name);
      sample.labels.emplace_back(label_name, std::move(value));
      skip_blanks();
      if (i == rest.size()) return Error("unterminated label set of " + sample.name);
      if (rest[i] == ',') {
        ++i;
        continue;
      }
      if (rest[i] != '}') {
        return Error("expected ',' or '}' after label " + label_name + " in " + sample.name);
      }
    }
    rest = rest.substr(i + 1);
    return Status::OK();
  }

  // The family a sample belongs to: its own name, or the histogram/summary it is a part of.
  Result<FamilyState*> FamilyOf(const PromSample& sample) {
    const std::string& name = sample.name;
    auto it = states_.find(name);
    if (it != states_.end() && it->second.has_type) {
      const std::string& type = out_.families[it->second.index].type;
      if (type == "histogram") {
        return Error("sample " + name + " of histogram " + name +
                     " must be one of _bucket, _sum, _count");
      }
      if (type == "summary" && !sample.Label("quantile")) {
        return Error("sample " + name + " of summary " + name + " has no quantile label");
      }
      return &it->second;
    }
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (name.size() <= suffix.size() ||
          std::string_view(name).substr(name.size() - suffix.size()) != suffix) {
        continue;
      }
      auto base = states_.find(name.substr(0, name.size() - suffix.size()));
      if (base == states_.end() || !base->second.has_type) continue;
      const std::string& type = out_.families[base->second.index].type;
      if (type == "histogram" || (type == "summary" && suffix != "_bucket")) return &base->second;
    }
    return Error("sample " + name + " has no # TYPE line before it");
  }

  Status AddSample(PromSample sample) {
    SHARDMESH_ASSIGN_OR_RETURN(FamilyState * state, FamilyOf(sample));
    PromFamily& family = out_.families[state->index];
    if (state != current_ || state->closed) {
      return Error("sample " + sample.name + " is apart from the other lines of " + family.name);
    }
    auto sorted = sample.labels;
    std::sort(sorted.begin(), sorted.end());
    std::string key = sample.name;
    for (const auto& [k, v] : sorted) key += '\0' + k + '\0' + v;
    if (!series_.insert(key).second) {
      return Error("series " + sample.name + " with these labels appears twice");
    }
    if (family.type == "counter" && (std::isnan(sample.value) || sample.value < 0)) {
      return Error("counter " + sample.name + " is negative or NaN");
    }
    if (family.type == "histogram") {
      const bool is_bucket = sample.name == family.name + "_bucket";
      const std::optional<std::string> le = sample.Label("le");
      if (is_bucket && !le) return Error("bucket " + sample.name + " has no le label");
      if (!is_bucket && le) return Error(sample.name + " must not have an le label");
      if (is_bucket && !ParseFloat(*le)) {
        return Error("le " + Quote(*le) + " of " + sample.name + " is not a float");
      }
    }
    family.samples.push_back(std::move(sample));
    return Status::OK();
  }

  struct HistogramSeries {
    std::vector<const PromSample*> buckets;
    const PromSample* sum = nullptr;
    const PromSample* count = nullptr;
  };

  // Marks `state` closed and checks a histogram's series are complete and consistent.
  Status CloseFamily(FamilyState& state) {
    state.closed = true;
    current_ = nullptr;
    const PromFamily& family = out_.families[state.index];
    if (family.type != "histogram") return Status::OK();
    std::vector<std::pair<std::string, HistogramSeries>> groups;  // in order of appearance
    for (const PromSample& sample : family.samples) {
      auto labels = sample.labels;
      std::erase_if(labels, [](const auto& l) { return l.first == "le"; });
      std::sort(labels.begin(), labels.end());
      std::string key;
      for (const auto& [k, v] : labels) key += k + '\0' + v + '\0';
      auto it =
          std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
      if (it == groups.end()) {
        groups.emplace_back(key, HistogramSeries{});
        it = groups.end() - 1;
      }
      if (sample.name == family.name + "_bucket") {
        it->second.buckets.push_back(&sample);
      } else if (sample.name == family.name + "_sum") {
        it->second.sum = &sample;
      } else {
        it->second.count = &sample;
      }
    }
    for (const auto& [key, series] : groups) {
      if (series.buckets.empty()) {
        const PromSample* any = series.sum != nullptr ? series.sum : series.count;
        return Error(any->line, "histogram " + family.name + " series has no buckets");
      }
      const PromSample* previous = nullptr;
      for (const PromSample* bucket : series.buckets) {
        if (previous != nullptr) {
          if (!(*ParseFloat(*previous->Label("le")) < *ParseFloat(*bucket->Label("le")))) {
            return Error(bucket->line, "le of " + family.name + " buckets does not increase");
          }
          if (bucket->value < previous->value) {
            return Error(bucket->line, family.name + " bucket counts are not cumulative");
          }
        }
        previous = bucket;
      }
      const PromSample* last = series.buckets.back();
      if (*ParseFloat(*last->Label("le")) != HUGE_VAL) {
        return Error(last->line, "histogram " + family.name + " series has no le=\"+Inf\" bucket");
      }
      if (series.sum == nullptr) {
        return Error(last->line, "histogram " + family.name + " series has no _sum");
      }
      if (series.count == nullptr) {
        return Error(last->line, "histogram " + family.name + " series has no _count");
      }
      if (series.count->value != last->value) {
        return Error(series.count->line, family.name + "_count differs from its +Inf bucket");
      }
    }
    return Status::OK();
  }

  PromExposition out_;
  std::map<std::string, FamilyState> states_;  // node-based: pointers stay valid
  FamilyState* current_ = nullptr;
  std::set<std::string> series_;
  int line_ = 0;
};

}  // namespace

Result<PromExposition> ParsePrometheusText(std::string_view text) { return Parser().Run(text); }

}  // namespace shardmesh::testing
