#include "block_parsers.h"

namespace shardmesh::loader::internal {

Status ParseWithMsgpackUnpack(DecodedBlockParts&, std::optional<std::uint32_t>,
                              std::string_view where) {
  return Status::Unimplemented(std::string(where) + ": msgpack unpack parser");
}
Status ParseWithMsgpackVisitor(DecodedBlockParts&, std::optional<std::uint32_t>,
                               std::string_view where) {
  return Status::Unimplemented(std::string(where) + ": msgpack visitor parser");
}

}  // namespace shardmesh::loader::internal
