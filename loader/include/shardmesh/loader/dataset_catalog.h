// DatasetCatalog: everything a mesh worker must know about a dataset to plan epochs and to
// place, fetch and decode its blocks, without holding any shard file: the manifest and every
// shard's footer (block index and labels). Workers without the source dataset fetch it from a
// peer as one blob and check each footer against the manifest's footer checksum.
//
// Wire format (version 1): "SMCAT001" | u32 LE manifest length | manifest JSON |
// per shard in manifest order: u32 LE footer length | footer bytes (as in the shard file).
// Anything else (bad magic, truncation, trailing bytes, a footer whose XXH3 differs from the
// manifest's footer_checksum, counts that disagree) is Corruption naming the shard.
//
// Thread-safety: immutable value after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/epoch_order.h"
#include "shardmesh/loader/manifest.h"

namespace shardmesh::loader {

class DatasetCatalog {
 public:
  // From an opened dataset (the worker that has the source).
  static Result<std::shared_ptr<const DatasetCatalog>> FromDataset(const Dataset& dataset);
  // From bytes written by Encode(). `where` prefixes errors (e.g. "catalog from w2").
  static Result<std::shared_ptr<const DatasetCatalog>> Decode(ByteView bytes,
                                                             std::string_view where);

  const std::string& encoded() const { return encoded_; }
  const Manifest& manifest() const { return manifest_; }
  const Schema& schema() const { return manifest_.schema; }
  std::span<const BlockInfo> blocks() const { return blocks_; }
  std::span<const std::int64_t> labels() const { return labels_; }
  std::uint32_t num_shards() const { return static_cast<std::uint32_t>(manifest_.shards.size()); }
  std::uint64_t num_samples() const { return manifest_.num_samples; }
  // First global block id of `shard` (blocks of a shard are contiguous).
  std::uint32_t first_block(std::uint32_t shard) const { return shard_first_block_[shard]; }
  // 16 hex digits identifying the dataset contents (hash of every shard's checksums).
  const std::string& id() const { return id_; }
  const DatasetLayout& layout() const { return layout_; }

 private:
  DatasetCatalog() = default;
  Status Build(std::vector<std::string> footers, std::string_view where);

  std::string encoded_;
  Manifest manifest_;
  std::vector<BlockInfo> blocks_;
  std::vector<std::int64_t> labels_;
  std::vector<std::uint32_t> shard_first_block_;
  std::string id_;
  DatasetLayout layout_;
};

}  // namespace shardmesh::loader
