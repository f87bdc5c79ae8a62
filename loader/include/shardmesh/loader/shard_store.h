// ShardStore: a mesh worker's local copies of a dataset's shards (issue 4, placement), and
// the BlobProvider through which its block exchange serves them to peers.
//
// On disk: <data_dir>/<catalog id>/catalog.bin and one file per held shard, named as in the
// manifest, byte-identical to the source. A shard is installed only after its whole-file XXH3
// matches the manifest (written to "<file>.part", fsynced, renamed, directory fsynced), so a
// file under its final name is always a verified copy; a crash mid-pull leaves a .part that the
// next Open deletes. Every block read is checked against its own checksum; a block that fails
// is reported as Corruption, and RepairBlock rewrites it in place from verified bytes (healing).
//
// A worker started with a source dataset directory (`source_dir`, e.g. a shared path) also
// reads and serves every block from there, and installs local copies by copying files.
//
// Blob names served (see BlobProvider): "catalog" (the DatasetCatalog bytes),
// "<id>/b/<block>" (a block's compressed bytes, as stored) and "<id>/c/<shard>/<chunk>"
// (kChunkBytes of a shard file, for replication).
//
// Thread-safety: every method is thread-safe; installs and reads may run concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/dataset_catalog.h"
#include "shardmesh/mesh/blob_provider.h"

namespace shardmesh::loader {

class ShardReader;

struct ShardStoreOptions {
  // Directory of this worker's local copies (created if missing). Required.
  std::string data_dir;
  // A complete dataset directory this worker can read (optional). With it the worker serves
  // every block, and installs its own copies by local file copy instead of pulling from peers.
  std::string source_dir;
  // Verify the whole-file checksum of copies found at Open (reads them once). Without it a
  // damaged copy is still caught block by block when read, and healed.
  bool verify_at_open = true;
};

class ShardStore : public mesh::BlobProvider {
 public:
  // Bytes of a shard file per replication chunk.
  static constexpr std::uint64_t kChunkBytes = 1u << 20;

  // Opens or creates the store of `catalog` under options.data_dir and adopts the verified
  // shard copies found there. InvalidArgument without data_dir; IOError naming the path when
  // it cannot be created; NotFound / Corruption naming the path for a bad source_dir.
  static Result<std::unique_ptr<ShardStore>> Open(ShardStoreOptions options,
                                                  std::shared_ptr<const DatasetCatalog> catalog);
  ~ShardStore() override;

  const DatasetCatalog& catalog() const { return *catalog_; }
  std::shared_ptr<const DatasetCatalog> shared_catalog() const { return catalog_; }
  const std::string& dir() const { return dir_; }
  bool has_source() const { return !source_dir_.empty(); }
  // True when a verified local copy of `shard` is installed.
  bool Has(std::uint32_t shard) const;
  // True when this worker can read every block of `shard` (local copy or source).
  bool CanServe(std::uint32_t shard) const { return has_source() || Has(shard); }
  std::vector<std::uint32_t> HeldShards() const;
  std::uint64_t bytes_stored() const { return bytes_stored_.load(std::memory_order_relaxed); }

  // Copies `shard` from the source directory and installs it. FailedPrecondition without a
  // source; Corruption naming the file when the copy's checksum differs from the manifest.
  Status InstallFromSource(std::uint32_t shard);
  // Where a pull of `shard` assembles the file before InstallPulled.
  std::string PartPath(std::uint32_t shard) const;
  // Verifies PartPath(shard) against the manifest and installs it (deleted when it fails).
  Status InstallPulled(std::uint32_t shard);
  // Removes the local copy of `shard` (no longer owned). OK when absent.
  Status Drop(std::uint32_t shard);

  // The compressed bytes of global block `block` from the local copy, else the source.
  // NotFound when this worker holds neither; Corruption naming the file and block when the
  // stored bytes fail their checksum.
  Result<SharedBytes> ReadBlock(std::uint32_t block) const;
  // The block from the source directory only. NotFound without a source.
  Result<SharedBytes> ReadSourceBlock(std::uint32_t block) const;
  // Rewrites `block` in the local copy with `good` (checked against the block's checksum
  // first) and fsyncs. FailedPrecondition when there is no local copy.
  Status RepairBlock(std::uint32_t block, ByteView good);

  // BlobProvider: serves the names listed above.
  Result<mesh::Blob> Get(std::string_view name) override;

  static std::string CatalogBlobName() { return "catalog"; }
  static std::string BlockBlobName(std::string_view id, std::uint32_t block);
  static std::string ChunkBlobName(std::string_view id, std::uint32_t shard, std::uint64_t chunk);

 private:
  ShardStore() = default;
  std::string ShardPath(std::uint32_t shard) const;
  std::shared_ptr<const ShardReader> Reader(std::uint32_t shard) const;
  std::shared_ptr<const ShardReader> SourceReader(std::uint32_t shard) const;
  Status VerifyAndInstall(std::uint32_t shard, const std::string& part);
  Result<SharedBytes> ReadChunk(std::uint32_t shard, std::uint64_t chunk) const;

  std::shared_ptr<const DatasetCatalog> catalog_;
  std::string dir_;
  std::string source_dir_;
  int lock_fd_ = -1;  // flock on <dir>/.lock: one store (one worker) per directory
  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<const ShardReader>> local_;   // guarded by mu_; null = absent
  std::vector<std::shared_ptr<const ShardReader>> source_;  // immutable after Open
  std::atomic<std::uint64_t> bytes_stored_{0};
};

}  // namespace shardmesh::loader
