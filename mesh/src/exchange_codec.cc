// Block exchange codec. Input comes from untrusted peers: msgpack allocations are bounded by
// unpack_limit before parsing and every msgpack exception becomes Corruption naming the field.
#include "exchange_codec.h"

#include <exception>
#include <msgpack.hpp>

#include "bounded_unpack.h"

namespace shardmesh::mesh {
namespace {

constexpr std::uint32_t kRequestArity = 2;
constexpr std::uint32_t kResponseArity = 5;

msgpack::unpack_limit Limits() {
  return msgpack::unpack_limit(/*array=*/16, /*map=*/0, /*str=*/kMaxExchangeMessageBytes,
                               /*bin=*/kMaxExchangeMessageBytes, /*ext=*/kMaxExchangeMessageBytes,
                               /*depth=*/2);
}

Status FieldError(std::string_view message, std::string_view field, std::string_view problem) {
  return CodecFieldError(message, field, problem);
}

// Parses `bytes` as one msgpack array of at least `min_arity` elements and hands it to `fn`.
template <typename T, typename Fn>
Result<T> DecodeArray(ByteView bytes, std::string_view what, std::uint32_t min_arity, Fn fn) {
  return UnpackBounded<T>(
      bytes, what, "message", kMaxExchangeMessageBytes, Limits(),
      [&](const msgpack::object& root) -> Result<T> {
        if (root.type != msgpack::type::ARRAY) {
          return FieldError(what, "message", "expected an array");
        }
        if (root.via.array.size < min_arity) {
          return FieldError(what, "message",
                            "expected at least " + std::to_string(min_arity) + " elements, got " +
                                std::to_string(root.via.array.size));
        }
        return fn(root.via.array);
      });
}

Result<std::uint64_t> ReadUnsigned(const msgpack::object& o, std::string_view what,
                                   std::string_view field) {
  return ReadUnsignedField(o, what, field);
}

Result<std::string> ReadString(const msgpack::object& o, std::string_view what,
                               std::string_view field) {
  return ReadStringField(o, what, field);
}

void PackString(msgpack::packer<msgpack::sbuffer>& packer, const std::string& s) {
  packer.pack_str(static_cast<std::uint32_t>(s.size()));
  packer.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

}  // namespace

std::string EncodeBlockRequest(const BlockRequestMsg& request) {
  msgpack::sbuffer buffer(32 + request.name.size());
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(kRequestArity);
  packer.pack_uint64(request.request_id);
  PackString(packer, request.name);
  return std::string(buffer.data(), buffer.size());
}

std::string EncodeBlockResponse(const BlockResponseMsg& response) {
  msgpack::sbuffer buffer(48 + response.message.size());
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(kResponseArity);
  packer.pack_uint64(response.request_id);
  packer.pack_uint32(static_cast<std::uint32_t>(response.code));
  PackString(packer, response.message);
  packer.pack_uint64(response.checksum);
  packer.pack_uint64(response.size);
  return std::string(buffer.data(), buffer.size());
}

Result<BlockRequestMsg> DecodeBlockRequest(ByteView bytes) {
  constexpr std::string_view kWhat = "block request";
  return DecodeArray<BlockRequestMsg>(
      bytes, kWhat, kRequestArity, [&](const msgpack::object_array& a) -> Result<BlockRequestMsg> {
        BlockRequestMsg r;
        SHARDMESH_ASSIGN_OR_RETURN(r.request_id, ReadUnsigned(a.ptr[0], kWhat, "request_id"));
        SHARDMESH_ASSIGN_OR_RETURN(r.name, ReadString(a.ptr[1], kWhat, "name"));
        if (r.name.empty()) return FieldError(kWhat, "name", "empty");
        return r;
      });
}

Result<BlockResponseMsg> DecodeBlockResponse(ByteView bytes) {
  constexpr std::string_view kWhat = "block response";
  return DecodeArray<BlockResponseMsg>(
      bytes, kWhat, kResponseArity,
      [&](const msgpack::object_array& a) -> Result<BlockResponseMsg> {
        BlockResponseMsg r;
        SHARDMESH_ASSIGN_OR_RETURN(r.request_id, ReadUnsigned(a.ptr[0], kWhat, "request_id"));
        SHARDMESH_ASSIGN_OR_RETURN(std::uint64_t code, ReadUnsigned(a.ptr[1], kWhat, "code"));
        if (code > static_cast<std::uint64_t>(StatusCode::kInternal)) {
          return FieldError(kWhat, "code", "unknown status code " + std::to_string(code));
        }
        r.code = static_cast<StatusCode>(code);
        SHARDMESH_ASSIGN_OR_RETURN(r.message, ReadString(a.ptr[2], kWhat, "message"));
        SHARDMESH_ASSIGN_OR_RETURN(r.checksum, ReadUnsigned(a.ptr[3], kWhat, "checksum"));
        SHARDMESH_ASSIGN_OR_RETURN(r.size, ReadUnsigned(a.ptr[4], kWhat, "size"));
        return r;
      });
}

}  // namespace shardmesh::mesh
