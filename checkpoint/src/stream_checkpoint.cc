#include "shardmesh/checkpoint/stream_checkpoint.h"

#include <utility>

namespace shardmesh::checkpoint {

Status SaveStreamState(CheckpointStore& store, std::uint64_t sequence, const StreamState& state) {
  const std::string bytes = EncodeStreamState(state);
  return store.Save(sequence, AsBytes(bytes));
}

Result<LoadedStreamState> LoadLatestStreamState(
    const CheckpointStore& store, const std::function<Status(const StreamState&)>& accept) {
  LoadedStreamState out;
  auto found = store.LoadLatest([&out, &accept](const StoredCheckpoint& c) {
    auto state = DecodeStreamState(AsBytes(c.payload));
    if (!state.ok()) return state.status();
    if (accept) SHARDMESH_RETURN_IF_ERROR(accept(*state));
    out.state = std::move(state).value();
    return Status::OK();
  });
  if (!found.ok()) return found.status();
  out.sequence = found->sequence;
  out.path = std::move(found->path);
  return out;
}

}  // namespace shardmesh::checkpoint
