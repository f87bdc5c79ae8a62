// Wire codec of the block exchange: the kBlockRequest payload and the kBlockResponse meta (the
// blob itself travels as the envelope's attachment). Both are small msgpack arrays:
//   request:  [request_id, name]
//   response: [request_id, status_code, message, checksum, size]
// Append-only like the message codes: newer versions may add trailing elements, which this
// version ignores.
//
// Thread-safety: free functions on value types.
#pragma once

#include <cstdint>
#include <string>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"

namespace shardmesh::mesh {

struct BlockRequestMsg {
  std::uint64_t request_id = 0;
  std::string name;
};

struct BlockResponseMsg {
  std::uint64_t request_id = 0;
  StatusCode code = StatusCode::kOk;
  std::string message;  // empty when code is kOk
  std::uint64_t checksum = 0;
  std::uint64_t size = 0;  // bytes of the attachment
};

// Largest encoded request / response meta accepted; anything larger is malformed.
inline constexpr std::size_t kMaxExchangeMessageBytes = 4096;

std::string EncodeBlockRequest(const BlockRequestMsg& request);
std::string EncodeBlockResponse(const BlockResponseMsg& response);

// Decode bytes from an untrusted peer: Corruption naming the field on malformed, truncated or
// oversized input; never throws.
Result<BlockRequestMsg> DecodeBlockRequest(ByteView bytes);
Result<BlockResponseMsg> DecodeBlockResponse(ByteView bytes);

}  // namespace shardmesh::mesh
