// Decoding msgpack from untrusted peers, shared by the envelope, gossip and exchange codecs:
// one object from `bytes`, with msgpack's allocations bounded by `limits` before it parses, and
// every failure (empty, oversized, truncated, trailing bytes, malformed) turned into
// Corruption "<what> field '<field>': <problem>" rather than an exception.
#pragma once

#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"

namespace shardmesh::mesh {

inline Status CodecFieldError(std::string_view what, std::string_view field,
                              std::string_view problem) {
  return Status::Corruption(std::string(what) + " field '" + std::string(field) +
                            "': " + std::string(problem));
}

// An unsigned integer no larger than `max`, or Corruption naming the field.
inline Result<std::uint64_t> ReadUnsignedField(
    const msgpack::object& o, std::string_view what, std::string_view field,
    std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) {
    return CodecFieldError(what, field, "expected an unsigned integer");
  }
  if (o.via.u64 > max) {
    return CodecFieldError(what, field, "value " + std::to_string(o.via.u64) + " out of range");
  }
  return o.via.u64;
}

// A copy of a msgpack string, or Corruption naming the field.
inline Result<std::string> ReadStringField(const msgpack::object& o, std::string_view what,
                                           std::string_view field) {
  if (o.type != msgpack::type::STR) return CodecFieldError(what, field, "expected a string");
  return std::string(o.via.str.ptr, o.via.str.size);
}

// Unpacks `bytes` (at most `max_bytes`) and returns `decode(root object)`, a Result<T>.
// Errors about the message as a whole name `field`.
template <typename T, typename Fn>
Result<T> UnpackBounded(ByteView bytes, std::string_view what, std::string_view field,
                        std::size_t max_bytes, const msgpack::unpack_limit& limits, Fn decode) {
  if (bytes.empty()) return CodecFieldError(what, field, "empty");
  if (bytes.size() > max_bytes) {
    return CodecFieldError(what, field,
                           std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                               std::to_string(max_bytes));
  }
  try {
    std::size_t offset = 0;
    msgpack::object_handle handle =
        msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size(), offset,
                        nullptr, nullptr, limits);
    if (offset != bytes.size()) {
      return CodecFieldError(what, field,
                             std::to_string(bytes.size() - offset) + " trailing bytes");
    }
    return decode(handle.get());
  } catch (const msgpack::insufficient_bytes&) {
    return CodecFieldError(what, field, "truncated");
  } catch (const std::exception& e) {
    return CodecFieldError(what, field, std::string("malformed msgpack: ") + e.what());
  }
}

}  // namespace shardmesh::mesh
