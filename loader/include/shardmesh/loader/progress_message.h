// ProgressMessage: what workers exchange about a mesh-mode epoch's partition table
// (partition_table.h), and its wire codec. Peers send these bytes, so the decoder is fuzzed
// (tests/fuzz/progress_fuzz.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/partition_table.h"

namespace shardmesh::loader {

// The progress message: epoch, plan digest, the epoch's member set M0 (so a worker that joins
// mid-epoch learns it), a list of entries and the handover records.
// Wire format (version 2, little endian): "SMPP" | u8 version | u64 epoch | u64 plan digest |
// u8 flags (bit 0: the sender knows every partition is done) | u16 member count |
// count x (u16 length, name bytes) | u32 entry count | count x (u32 partition, u32 term,
// u64 cursor) | u32 handover count | count x (u32 partition, u32 term, u16 length, name bytes).
// Version 1 is the same without the handover part: it is what a message without handover
// records is sent as (so workers that predate handovers still read it), and it is decoded.
struct ProgressMessage {
  std::uint64_t epoch = 0;
  std::uint64_t plan_digest = 0;
  // The sender's table says every partition of the epoch is done (the epoch-end barrier).
  bool all_done = false;
  std::vector<std::string> members;
  std::vector<PartitionEntry> entries;
  std::vector<Handover> handovers;
  friend bool operator==(const ProgressMessage&, const ProgressMessage&) = default;
};
std::string EncodeProgress(const ProgressMessage& message);
// Corruption naming what is wrong (bad magic, unknown version, truncated, count too large,
// trailing bytes). Never throws.
Result<ProgressMessage> DecodeProgress(std::string_view bytes);

}  // namespace shardmesh::loader
