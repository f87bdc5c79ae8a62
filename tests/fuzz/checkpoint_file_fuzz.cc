// Fuzzes DecodeCheckpointFile twice per input: as given (magic, header checksum, size checks),
// and with a valid header built for the input as payload, then with that header's size field
// bent to the input's first byte so the size, truncation and trailing-byte checks are reached.
// Whatever decodes must re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "shardmesh/checkpoint/checkpoint_file.h"
#include "shardmesh/common/hash.h"

namespace {

using shardmesh::AsBytes;
using shardmesh::AsChars;
using namespace shardmesh::checkpoint;

void Check(const std::string& bytes) {
  auto view = DecodeCheckpointFile(AsBytes(bytes));
  if (!view.ok()) return;
  if (EncodeCheckpointFile(view->sequence, view->payload) != bytes) std::abort();
  auto header = DecodeCheckpointHeader(AsBytes(bytes));
  if (!header.ok() || header->payload_size != view->payload.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  Check(raw);
  const std::uint64_t sequence = size >= 8 ? shardmesh::Hash64(raw.substr(0, 8)) : size;
  Check(EncodeCheckpointFile(sequence, AsBytes(raw)));
  if (size > 0) {
    CheckpointHeader h;
    h.sequence = sequence;
    h.payload_size = data[0];
    h.payload_hash = shardmesh::Hash64(AsBytes(raw).subspan(1));
    Check(EncodeCheckpointHeader(h) + raw.substr(1));
  }
  return 0;
}
