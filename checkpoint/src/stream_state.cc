#include "shardmesh/checkpoint/stream_state.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <msgpack.hpp>
#include <utility>

#include "shardmesh/common/hash.h"

namespace shardmesh::checkpoint {
namespace {

constexpr char kMagic[4] = {'S', 'M', 'S', 'S'};
constexpr std::size_t kChecksumSize = 8;
constexpr std::uint32_t kBodyFields = 12;
// Cursors beyond this are not a stream state: the loaders allow at most 2^20 partitions
// (loader::kMaxPartitions), one cursor each; the flat array holds two values per cursor.
constexpr std::size_t kMaxCursors = 1u << 20;
constexpr std::size_t kMaxArrayElements = 2 * kMaxCursors;

void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t GetU64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Status Malformed(const std::string& what) {
  return Status::Corruption("stream state: malformed body: " + what);
}

// Reads an unsigned integer that must fit in T.
template <typename T>
Status GetUnsigned(const msgpack::object& o, const char* field, T& out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) {
    return Malformed(std::string(field) + " is not an unsigned integer");
  }
  if (o.via.u64 > std::numeric_limits<T>::max()) {
    return Malformed(std::string(field) + " out of range");
  }
  out = static_cast<T>(o.via.u64);
  return Status::OK();
}

Status GetSigned(const msgpack::object& o, const char* field, std::int64_t& out) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return Malformed(std::string(field) + " out of range");
    }
    out = static_cast<std::int64_t>(o.via.u64);
    return Status::OK();
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    out = o.via.i64;
    return Status::OK();
  }
  return Malformed(std::string(field) + " is not an integer");
}

Status DecodeBody(const msgpack::object& root, StreamState& s) {
  if (root.type != msgpack::type::ARRAY || root.via.array.size < 1) {
    return Malformed("not an array");
  }
  const msgpack::object* f = root.via.array.ptr;
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[0], "version", s.version));
  if (s.version != kStreamStateVersion) {
    return Status::InvalidArgument("stream state: unsupported format version " +
                                   std::to_string(s.version) + " (this build reads " +
                                   std::to_string(kStreamStateVersion) + ")");
  }
  if (root.via.array.size != kBodyFields) {
    return Malformed("expected " + std::to_string(kBodyFields) + " fields, got " +
                     std::to_string(root.via.array.size));
  }
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[1], "epoch", s.epoch));
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[2], "seed", s.seed));
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[3], "world_size", s.world_size));
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[4], "rank", s.rank));
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[5], "position", s.position));
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[6], "sequence_length", s.sequence_length));
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[7], "plan_digest", s.plan_digest));
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[8], "membership_digest", s.membership_digest));
  SHARDMESH_RETURN_IF_ERROR(GetSigned(f[9], "timestamp_ms", s.timestamp_ms));
  SHARDMESH_RETURN_IF_ERROR(GetUnsigned(f[10], "strategy", s.strategy));
  if (f[11].type != msgpack::type::ARRAY || f[11].via.array.size % 2 != 0) {
    return Malformed("cursors is not a flat array of (partition delta, consumed) pairs");
  }
  const auto& flat = f[11].via.array;
  s.cursors.resize(flat.size / 2);
  std::uint64_t partition = 0;
  for (std::uint32_t i = 0; i < s.cursors.size(); ++i) {
    std::uint32_t delta = 0;
    SHARDMESH_RETURN_IF_ERROR(GetUnsigned(flat.ptr[2 * i], "cursor partition delta", delta));
    partition += delta;
    if (partition > std::numeric_limits<std::uint32_t>::max() || (i > 0 && delta == 0)) {
      return Malformed("cursor " + std::to_string(i) + " partition not strictly increasing");
    }
    s.cursors[i].partition = static_cast<std::uint32_t>(partition);
    SHARDMESH_RETURN_IF_ERROR(
        GetUnsigned(flat.ptr[2 * i + 1], "cursor consumed", s.cursors[i].consumed));
  }
  if (s.world_size == 0 || s.rank >= s.world_size) {
    return Malformed("rank " + std::to_string(s.rank) + " not below world_size " +
                     std::to_string(s.world_size));
  }
  if (s.position > s.sequence_length) {
    return Malformed("position " + std::to_string(s.position) + " beyond sequence length " +
                     std::to_string(s.sequence_length));
  }
  return Status::OK();
}

}  // namespace

std::string EncodeStreamState(const StreamState& s) {
  msgpack::sbuffer body;
  msgpack::packer<msgpack::sbuffer> pk(body);
  pk.pack_array(kBodyFields);
  pk.pack(kStreamStateVersion);
  pk.pack(s.epoch);
  pk.pack(s.seed);
  pk.pack(s.world_size);
  pk.pack(s.rank);
  pk.pack(s.position);
  pk.pack(s.sequence_length);
  pk.pack(s.plan_digest);
  pk.pack(s.membership_digest);
  pk.pack(s.timestamp_ms);
  pk.pack(s.strategy);
  // Flat (partition delta, consumed) pairs: deltas are mostly one byte, which keeps 1024
  // cursors near 4 KB.
  pk.pack_array(static_cast<std::uint32_t>(2 * s.cursors.size()));
  std::uint32_t previous = 0;
  for (const auto& c : s.cursors) {
    pk.pack(c.partition - previous);
    pk.pack(c.consumed);
    previous = c.partition;
  }
  std::string out(kMagic, sizeof kMagic);
  out.append(body.data(), body.size());
  PutU64(out, Hash64(out));
  return out;
}

Result<StreamState> DecodeStreamState(ByteView data) {
  if (data.size() < sizeof kMagic + kChecksumSize + 1) {
    return Status::Corruption("stream state: truncated (" + std::to_string(data.size()) +
                              " bytes)");
  }
  if (std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) {
    return Status::Corruption("stream state: bad magic (not a shardmesh stream state)");
  }
  const std::size_t covered = data.size() - kChecksumSize;
  const std::uint64_t stored = GetU64(data.data() + covered);
  const std::uint64_t actual = Hash64(data.data(), covered);
  if (stored != actual) {
    return Status::Corruption("stream state: checksum mismatch (truncated or corrupt)");
  }
  const char* body = reinterpret_cast<const char*>(data.data()) + sizeof kMagic;
  const std::size_t body_size = covered - sizeof kMagic;
  // Limits keep a hostile length prefix from allocating more than the input could hold.
  const std::size_t max_elems = std::min(body_size, kMaxArrayElements);
  const msgpack::unpack_limit limits(max_elems, 0, 0, 0, 0, 8);
  StreamState state;
  try {
    std::size_t offset = 0;
    msgpack::object_handle handle =
        msgpack::unpack(body, body_size, offset, nullptr, nullptr, limits);
    if (offset != body_size) {
      return Malformed(std::to_string(body_size - offset) + " trailing bytes");
    }
    SHARDMESH_RETURN_IF_ERROR(DecodeBody(handle.get(), state));
  } catch (const msgpack::insufficient_bytes&) {
    return Malformed("truncated");
  } catch (const std::exception& e) {
    return Malformed(e.what());
  }
  return state;
}

}  // namespace shardmesh::checkpoint
