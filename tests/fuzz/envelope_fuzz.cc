// Fuzzes the envelope header decoder with arbitrary bytes, as an untrusted peer could send
// them. Any crash, sanitizer report or out-of-bounds read is a bug; a header that decodes must
// also survive a re-encode/decode round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "shardmesh/mesh/envelope.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using shardmesh::mesh::DecodeHeader;
  using shardmesh::mesh::EncodeHeader;
  using shardmesh::mesh::EnvelopeHeader;
  shardmesh::Result<EnvelopeHeader> header = DecodeHeader(shardmesh::ByteView(data, size));
  if (!header.ok()) {
    if (!header.status().IsCorruption()) std::abort();
    return 0;
  }
  const std::string again = EncodeHeader(*header);
  shardmesh::Result<EnvelopeHeader> round = DecodeHeader(shardmesh::AsBytes(again));
  if (!round.ok() || round->sender != header->sender ||
      round->sender_endpoint != header->sender_endpoint ||
      round->incarnation != header->incarnation || round->type != header->type ||
      round->version != header->version) {
    std::abort();
  }
  return 0;
}
