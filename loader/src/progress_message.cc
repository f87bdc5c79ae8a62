#include "shardmesh/loader/progress_message.h"

#include <fmt/format.h>

#include <utility>

namespace shardmesh::loader {
namespace {

constexpr std::string_view kProgressMagic = "SMPP";
constexpr std::uint8_t kProgressVersion = 2;  // 1: no handover records
constexpr std::size_t kEntryBytes = 16;
constexpr std::size_t kFixedBytes = 4 + 1 + 8 + 8 + 1 + 2 + 4;
constexpr std::size_t kMaxNameBytes = 1024;

template <typename T>
void Put(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

template <typename T>
T Get(std::string_view in, std::size_t& pos) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<T>(static_cast<std::uint8_t>(in[pos + i])) << (8 * i);
  }
  pos += sizeof(T);
  return v;
}

}  // namespace

std::string EncodeProgress(const ProgressMessage& m) {
  std::string out;
  out.reserve(kFixedBytes + m.entries.size() * kEntryBytes);
  out.append(kProgressMagic);
  out.push_back(static_cast<char>(m.handovers.empty() ? 1 : kProgressVersion));
  Put(out, m.epoch);
  Put(out, m.plan_digest);
  Put(out, static_cast<std::uint8_t>(m.all_done ? 1 : 0));
  Put(out, static_cast<std::uint16_t>(m.members.size()));
  for (const auto& name : m.members) {
    Put(out, static_cast<std::uint16_t>(name.size()));
    out += name;
  }
  Put(out, static_cast<std::uint32_t>(m.entries.size()));
  for (const auto& e : m.entries) {
    Put(out, e.partition);
    Put(out, e.term);
    Put(out, e.cursor);
  }
  if (m.handovers.empty()) return out;  // version 1: readable by workers without handovers
  Put(out, static_cast<std::uint32_t>(m.handovers.size()));
  for (const auto& h : m.handovers) {
    Put(out, h.partition);
    Put(out, h.term);
    Put(out, static_cast<std::uint16_t>(h.to.size()));
    out += h.to;
  }
  return out;
}

Result<ProgressMessage> DecodeProgress(std::string_view in) {
  if (in.size() < kFixedBytes) {
    return Status::Corruption(
        fmt::format("progress message: {} bytes, need at least {}", in.size(), kFixedBytes));
  }
  if (in.substr(0, 4) != kProgressMagic) return Status::Corruption("progress message: bad magic");
  const auto version = static_cast<std::uint8_t>(in[4]);
  if (version != 1 && version != kProgressVersion) {
    return Status::Corruption(
        fmt::format("progress message: unknown version {}", static_cast<int>(in[4])));
  }
  std::size_t pos = 5;
  ProgressMessage m;
  m.epoch = Get<std::uint64_t>(in, pos);
  m.plan_digest = Get<std::uint64_t>(in, pos);
  const auto flags = Get<std::uint8_t>(in, pos);
  if (flags > 1)
    return Status::Corruption(fmt::format("progress message: unknown flags {}", flags));
  m.all_done = flags == 1;
  const auto names = Get<std::uint16_t>(in, pos);
  for (std::uint32_t i = 0; i < names; ++i) {
    if (in.size() - pos < 2 + 4)
      return Status::Corruption("progress message: truncated member list");
    const auto len = Get<std::uint16_t>(in, pos);
    if (len == 0 || len > kMaxNameBytes || in.size() - pos < len + 4u) {
      return Status::Corruption(
          fmt::format("progress message: member {} has a bad length {}", i, len));
    }
    m.members.emplace_back(in.substr(pos, len));
    pos += len;
  }
  if (in.size() - pos < 4) return Status::Corruption("progress message: truncated entry count");
  const auto count = Get<std::uint32_t>(in, pos);
  // Version 1 ends with the entries; version 2 has at least the handover count after them.
  const std::size_t tail = version == 1 ? 0 : 4;
  const std::size_t left = in.size() - pos;
  if (left < tail || (left - tail) / kEntryBytes < count ||
      (version == 1 && left != count * kEntryBytes)) {
    return Status::Corruption(
        fmt::format("progress message: {} entries announced, {} bytes follow", count, left));
  }
  m.entries.resize(count);
  for (auto& e : m.entries) {
    e.partition = Get<std::uint32_t>(in, pos);
    e.term = Get<std::uint32_t>(in, pos);
    e.cursor = Get<std::uint64_t>(in, pos);
  }
  if (version == 1) return m;
  const auto handovers = Get<std::uint32_t>(in, pos);
  for (std::uint32_t i = 0; i < handovers; ++i) {
    if (in.size() - pos < 4 + 4 + 2) {
      return Status::Corruption(
          fmt::format("progress message: handover {} of {} truncated", i, handovers));
    }
    Handover h;
    h.partition = Get<std::uint32_t>(in, pos);
    h.term = Get<std::uint32_t>(in, pos);
    const auto len = Get<std::uint16_t>(in, pos);
    if (len == 0 || len > kMaxNameBytes || in.size() - pos < len) {
      return Status::Corruption(
          fmt::format("progress message: handover {} has a bad name length {}", i, len));
    }
    h.to.assign(in.substr(pos, len));
    pos += len;
    m.handovers.push_back(std::move(h));
  }
  if (pos != in.size()) {
    return Status::Corruption(fmt::format("progress message: {} trailing bytes", in.size() - pos));
  }
  return m;
}

}  // namespace shardmesh::loader
