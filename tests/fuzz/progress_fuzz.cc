// Fuzzes the mesh loader's progress message decoder (bytes any peer can send): any crash or
// sanitizer report is a bug; what decodes must re-encode to the same bytes (a version 2 message
// without handover records re-encodes as version 1: then to a message of the same content).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "shardmesh/loader/progress_message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto m = shardmesh::loader::DecodeProgress(in);
  if (!m.ok()) return 0;
  const std::string again = shardmesh::loader::EncodeProgress(*m);
  if ((in[4] == 2) == !m->handovers.empty() && again != in) std::abort();
  auto back = shardmesh::loader::DecodeProgress(again);
  if (!back.ok() || !(*back == *m)) std::abort();
  return 0;
}
