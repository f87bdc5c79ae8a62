#include "shardmesh/loader/strategy.h"

#include <array>
#include <string>

namespace shardmesh::loader {
namespace {

constexpr std::array<std::pair<Strategy, std::string_view>, 6> kNames = {{
    {Strategy::kRoundRobin, "round-robin"},
    {Strategy::kContiguous, "contiguous"},
    {Strategy::kHash, "hash"},
    {Strategy::kRange, "range"},
    {Strategy::kStratified, "stratified"},
    {Strategy::kAdaptive, "adaptive"},
}};

}  // namespace

std::string_view StrategyName(Strategy strategy) {
  for (const auto& [s, name] : kNames) {
    if (s == strategy) return name;
  }
  return "unknown";
}

Result<Strategy> ParseStrategy(std::string_view name) {
  std::string valid;
  for (const auto& [s, n] : kNames) {
    if (n == name) return s;
    valid += valid.empty() ? "" : ", ";
    valid += n;
  }
  return Status::InvalidArgument("strategy: unknown '" + std::string(name) + "' (valid: " + valid +
                                 ")");
}

std::string_view DropPolicyName(DropPolicy policy) {
  return policy == DropPolicy::kPad ? "pad" : "drop";
}

}  // namespace shardmesh::loader
