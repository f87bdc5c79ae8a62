// DatasetWriter: builds a dataset directory (shards + manifest) from samples appended in order.
//
// Samples are appended field by field (BeginSample, one Add* per field in schema order,
// EndSample), which lets generators and importers write without building intermediate
// objects. Blocks are cut at the target size, shards at the sample count; Finish() writes the
// manifest last (atomically), so a directory with a manifest is always complete.
//
// Thread-safety: not thread-safe; one thread writes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/block_codec.h"
#include "shardmesh/loader/manifest.h"
#include "shardmesh/loader/schema.h"
#include "shardmesh/loader/shard_writer.h"

namespace shardmesh::loader {

struct DatasetWriterOptions {
  // Uncompressed bytes per block (a block is cut after the sample that reaches it). Larger
  // blocks compress better and cost fewer reads; smaller ones shuffle and transfer at a finer
  // grain and need less memory per in-flight block.
  std::size_t target_block_bytes = 256 * 1024;
  // Samples per shard file; the last shard takes the rest. More shards spread the data over
  // more files (placement and replication move whole shards); fewer mean fewer open files.
  std::uint64_t samples_per_shard = 100000;
  // LZ4 acceleration: 1 = LZ4_compress_default (best ratio); higher is faster, larger.
  int lz4_acceleration = 1;
  // Replace an existing dataset in the directory instead of failing with AlreadyExists. The
  // new shards are staged in a hidden subdirectory (.shardmesh-staging-<pid>), so the old
  // dataset stays whole until Finish: a writer that fails or never finishes leaves it as it
  // was. Finish then moves the new shards in, writes the new manifest and removes the old
  // shard files it does not list.
  bool overwrite = false;
};

class DatasetWriter {
 public:
  // Creates `dir` if needed. AlreadyExists when it already holds a manifest and
  // !options.overwrite; FailedPrecondition while another writer (in any process) writes to
  // `dir` (a flock on the directory, held until this writer is destroyed; not by a process
  // forked meanwhile); InvalidArgument for
  // bad options; IOError for file system failures. In a directory without a manifest, shard
  // files left by a writer that never finished (shard-NNNNN.smd and their .tmp) are removed.
  static Result<std::unique_ptr<DatasetWriter>> Create(const std::string& dir, Schema schema,
                                                       const DatasetWriterOptions& options = {});
  // A writer destroyed before Finish() succeeded removes the shard files it wrote.
  ~DatasetWriter();

  // One sample: BeginSample(), one Add* per field in schema order, EndSample(). EndSample
  // returns InvalidArgument naming the field on a type/size/count mismatch (the sample is
  // dropped, the writer stays usable), FailedPrecondition without a BeginSample(), and IOError
  // when a shard write fails. A second BeginSample() drops the open sample's values.
  void BeginSample() { encoder_.BeginSample(); }
  void AddInt64(std::int64_t v) { encoder_.AddInt64(v); }
  void AddFloat64(double v) { encoder_.AddFloat64(v); }
  void AddString(std::string_view v) { encoder_.AddString(v); }
  void AddBytes(ByteView v) { encoder_.AddBytes(v); }
  void AddTensor(ByteView data) { encoder_.AddTensor(data); }
  void AddTensor(std::span<const std::int64_t> dims, ByteView data) {
    encoder_.AddTensor(dims, data);
  }
  Status EndSample();

  // Closes the current shard now (no-op when it is empty), so that callers can choose their
  // own shard boundaries. IOError when the write fails; FailedPrecondition inside a sample.
  Status CloseShard();

  std::uint64_t num_samples() const { return num_samples_; }
  const Schema& schema() const { return schema_; }

  // Flushes the last block and shard and writes the manifest. Returns the manifest written.
  // InvalidArgument when no sample was written; FailedPrecondition inside a sample.
  Result<Manifest> Finish();

 private:
  DatasetWriter(std::string dir, Schema schema, const DatasetWriterOptions& options);
  Status FlushBlock();
  Status FinishShard();
  // Moves the staged shards of an overwrite into dir_ (the old manifest is removed first).
  Status InstallStaged();
  // The destructor's part for a writer that never finished: removes the shards it wrote.
  void RemoveUnfinished();

  std::string dir_;
  Schema schema_;
  DatasetWriterOptions options_;
  std::string write_dir_;    // where shards are written: dir_, or staging_dir_ until installed
  std::string staging_dir_;  // an overwrite's hidden staging directory (empty otherwise)
  BlockEncoder encoder_;
  std::unique_ptr<ShardWriter> shard_;
  Manifest manifest_;
  std::uint64_t num_samples_ = 0;
  std::uint64_t shard_samples_ = 0;
  bool finished_ = false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> written_;  // (device, inode) per shard
  std::vector<std::string> replaced_shards_;  // shard files of the dataset overwritten
  int lock_fd_ = -1;                          // the directory, flocked while this writer lives
  bool lock_tracked_ = false;                 // closed in forked children (dataset_writer.cc)
};

// "shard-00042.smd"
std::string ShardFileName(std::uint32_t shard);

}  // namespace shardmesh::loader
