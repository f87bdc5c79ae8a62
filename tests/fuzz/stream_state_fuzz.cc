// Fuzzes DecodeStreamState twice per input: as given (framing checks), and re-framed with a
// valid magic and checksum so the msgpack body parser is reached. Whatever decodes must
// re-encode to a buffer that decodes to the same state.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/common/hash.h"

namespace {

void Check(const std::string& bytes) {
  using shardmesh::checkpoint::DecodeStreamState;
  using shardmesh::checkpoint::EncodeStreamState;
  auto state = DecodeStreamState(shardmesh::AsBytes(bytes));
  if (!state.ok()) return;
  const std::string again = EncodeStreamState(*state);
  auto back = DecodeStreamState(shardmesh::AsBytes(again));
  if (!back.ok() || !(*back == *state)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  Check(raw);
  std::string framed = "SMSS" + raw;
  const std::uint64_t h = shardmesh::Hash64(framed);
  for (int i = 0; i < 8; ++i) framed.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
  Check(framed);
  return 0;
}
