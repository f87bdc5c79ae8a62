// Fuzzes the mesh loader's progress message decoder (bytes any peer can send): any crash or
// sanitizer report is a bug; what decodes must re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "shardmesh/loader/partition_table.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto m = shardmesh::loader::DecodeProgress(in);
  if (m.ok() && shardmesh::loader::EncodeProgress(*m) != in) std::abort();
  return 0;
}
