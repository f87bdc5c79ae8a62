// The msgpack parsers behind ParseBlock. Each fills `parts` (slots, shape pool, count) from
// parts.raw, or returns Corruption prefixed with `where`.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/sample.h"

namespace shardmesh::loader::internal {

Status ParseDirect(DecodedBlockParts& parts, std::optional<std::uint32_t> expected_samples,
                   std::string_view where);
Status ParseWithMsgpackUnpack(DecodedBlockParts& parts,
                              std::optional<std::uint32_t> expected_samples,
                              std::string_view where);
Status ParseWithMsgpackVisitor(DecodedBlockParts& parts,
                               std::optional<std::uint32_t> expected_samples,
                               std::string_view where);

// Marks a slot as a fixed-shape tensor (its shape comes from the schema).
inline constexpr std::uint32_t kFixedShape = 0xffffffffu;

}  // namespace shardmesh::loader::internal
