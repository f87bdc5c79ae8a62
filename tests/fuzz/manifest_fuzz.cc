// Fuzzes manifest parsing: no crash on any input, and an accepted manifest survives a
// serialize/parse round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shardmesh/loader/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using shardmesh::loader::Manifest;
  auto m = Manifest::Parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  if (!m.ok()) return 0;
  const std::string text = m->Serialize();
  auto again = Manifest::Parse(text, "fuzz-roundtrip");
  if (!again.ok()) __builtin_trap();
  if (again->Serialize() != text) __builtin_trap();
  if (again->schema.Digest() != m->schema.Digest()) __builtin_trap();
  return 0;
}
