#include "shardmesh/mesh/mesh_status.h"

#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

namespace shardmesh::mesh {
namespace {

using nlohmann::json;

std::string Hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Result<MemberState> StateFromName(std::string_view name) {
  for (auto s : {MemberState::kAlive, MemberState::kSuspect, MemberState::kDead, MemberState::kLeft})
    if (MemberStateName(s) == name) return s;
  return Status::Corruption("status: unknown member state '" + std::string(name) + "'");
}

// A node_info value that is a plain decimal integer goes out as a JSON number, so `status
// --json` readers get numbers; anything else stays a string.
json NodeInfoValue(const std::string& v) {
  const std::size_t digits = v.size() - (!v.empty() && v[0] == '-' ? 1 : 0);
  if (digits == 0 || digits > 18 ||
      v.find_first_not_of("0123456789", v.size() - digits) != std::string::npos) {
    return v;
  }
  if (digits > 1 && v[v.size() - digits] == '0') return v;  // "007" is an identifier, not 7
  return std::stoll(v);
}

}  // namespace

std::string MeshStatusToJson(const MeshStatus& s) {
  json j;
  j["self"] = s.self;
  j["endpoint"] = s.endpoint;
  j["incarnation"] = s.incarnation;
  j["health"] = s.health;
  j["members"] = json::array();
  for (const auto& m : s.members) {
    j["members"].push_back({{"name", m.name},
                            {"endpoint", m.endpoint},
                            {"state", std::string(MemberStateName(m.state))},
                            {"incarnation", m.incarnation},
                            {"last_heard_ms", m.last_heard_ms}});
  }
  j["ring_digest"] = Hex(s.ring_digest);
  j["agreed"] = s.agreed;
  j["partitions"] = json::object();
  for (const auto& [name, count] : s.partitions) j["partitions"][name] = count;
  j["node_info"] = json::object();
  for (const auto& [key, value] : s.node_info) j["node_info"][key] = NodeInfoValue(value);
  // Names come from peers and paths from the file system: bytes that are not UTF-8 become
  // U+FFFD rather than an exception on the node's loop thread.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<MeshStatus> MeshStatusFromJson(std::string_view text) {
  try {
    const json j = json::parse(text);
    MeshStatus s;
    s.self = j.at("self").get<std::string>();
    s.endpoint = j.at("endpoint").get<std::string>();
    s.incarnation = j.at("incarnation").get<std::uint64_t>();
    s.health = j.at("health").get<int>();
    for (const auto& m : j.at("members")) {
      MeshMemberStatus ms;
      ms.name = m.at("name").get<std::string>();
      ms.endpoint = m.at("endpoint").get<std::string>();
      SHARDMESH_ASSIGN_OR_RETURN(ms.state, StateFromName(m.at("state").get<std::string>()));
      ms.incarnation = m.at("incarnation").get<std::uint64_t>();
      ms.last_heard_ms = m.at("last_heard_ms").get<std::int64_t>();
      s.members.push_back(std::move(ms));
    }
    s.ring_digest = std::stoull(j.at("ring_digest").get<std::string>(), nullptr, 16);
    s.agreed = j.at("agreed").get<bool>();
    for (const auto& [name, count] : j.at("partitions").items())
      s.partitions[name] = count.get<std::uint32_t>();
    if (j.contains("node_info")) {
      for (const auto& [key, value] : j.at("node_info").items())
        s.node_info[key] = value.is_string() ? value.get<std::string>() : value.dump();
    }
    return s;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("status response: ") + e.what());
  }
}

std::string MeshStatusToTable(const MeshStatus& s) {
  std::ostringstream os;
  os << "self " << s.self << " at " << s.endpoint << " (incarnation " << s.incarnation
     << ", health " << s.health << ")\n";
  os << "ring digest " << Hex(s.ring_digest) << ", mesh " << (s.agreed ? "agreed" : "NOT agreed")
     << "\n\n";
  char line[256];
  std::snprintf(line, sizeof(line), "%-16s %-26s %-8s %11s %12s %10s\n", "NAME", "ENDPOINT",
                "STATE", "INCARNATION", "LAST HEARD", "RING PARTS");
  os << line;
  for (const auto& m : s.members) {
    const auto it = s.partitions.find(m.name);
    const std::string heard =
        m.last_heard_ms < 0 ? "never" : std::to_string(m.last_heard_ms) + " ms";
    std::snprintf(line, sizeof(line), "%-16s %-26s %-8s %11llu %12s %10u\n", m.name.c_str(),
                  m.endpoint.c_str(), std::string(MemberStateName(m.state)).c_str(),
                  static_cast<unsigned long long>(m.incarnation), heard.c_str(),
                  it == s.partitions.end() ? 0u : it->second);
    os << line;
  }
  if (!s.node_info.empty()) {
    os << "\n" << s.self << ":\n";
    for (const auto& [key, value] : s.node_info) os << "  " << key << ": " << value << "\n";
  }
  return os.str();
}

}  // namespace shardmesh::mesh
