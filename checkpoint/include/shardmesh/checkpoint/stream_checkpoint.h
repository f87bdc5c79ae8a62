// Stream-state checkpoints on a CheckpointStore: the loader's cursor state encoded with
// EncodeStreamState and stored under a commit sequence number. On restore, a file whose frame
// validates but whose stream state does not decode (checksum, version, malformed body) is
// skipped like a corrupt file, so the newest state that is fully valid wins.
//
// Thread-safety: as CheckpointStore (these are thin free functions over it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "shardmesh/checkpoint/checkpoint_store.h"
#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/common/status.h"

namespace shardmesh::checkpoint {

// Encodes `state` and saves it as checkpoint `sequence`. Returns what CheckpointStore::Save
// returns.
Status SaveStreamState(CheckpointStore& store, std::uint64_t sequence, const StreamState& state);

struct LoadedStreamState {
  std::uint64_t sequence = 0;
  StreamState state;
  std::string path;  // the file it came from
};

// The newest checkpoint whose file and stream state both validate and that `accept` (when
// given) takes: one it refuses is skipped like a corrupt file, with its message in the
// warning, so an older checkpoint of the caller's own plan still wins. NotFound naming the
// directory when there is none; IOError when the directory cannot be listed.
Result<LoadedStreamState> LoadLatestStreamState(
    const CheckpointStore& store,
    const std::function<Status(const StreamState&)>& accept = nullptr);

}  // namespace shardmesh::checkpoint
