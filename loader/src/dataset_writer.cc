#include "shardmesh/loader/dataset_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "shardmesh/common/file.h"

namespace shardmesh::loader {

std::string ShardFileName(std::uint32_t shard) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05u.smd", shard);
  return buf;
}

DatasetWriter::DatasetWriter(std::string dir, Schema schema, const DatasetWriterOptions& options)
    : dir_(std::move(dir)),
      schema_(std::move(schema)),
      options_(options),
      encoder_(schema_, options.lz4_acceleration) {
  manifest_.schema = schema_;
}

DatasetWriter::~DatasetWriter() {
  if (finished_) return;
  // Never finished (an error, or the caller gave up): without a manifest the shards written so
  // far are no dataset, and left behind they would sit beside the next one written here.
  shard_.reset();  // its temporary file goes with it
  // A manifest in place (written by a later writer, or ours before a failed directory fsync)
  // means the shards are a dataset's: never touch them.
  std::error_code ec;
  if (std::filesystem::exists(dir_ + "/" + std::string(kManifestFileName), ec)) return;
  for (std::size_t i = 0; i < manifest_.shards.size() && i < written_.size(); ++i) {
    // Only the very file this writer installed: a later writer may have replaced it by name.
    const std::string path = dir_ + "/" + manifest_.shards[i].file;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_dev == written_[i].first &&
        st.st_ino == written_[i].second) {
      ::unlink(path.c_str());
    }
  }
}

Result<std::unique_ptr<DatasetWriter>> DatasetWriter::Create(const std::string& dir, Schema schema,
                                                             const DatasetWriterOptions& options) {
  if (options.target_block_bytes == 0 || options.target_block_bytes > (kMaxBlockRawBytes / 2)) {
    return Status::InvalidArgument("target_block_bytes must be in (0, 512 MiB]");
  }
  if (options.samples_per_shard == 0) {
    return Status::InvalidArgument("samples_per_shard must be positive");
  }
  if (schema.num_fields() == 0) return Status::InvalidArgument("schema has no fields");
  SHARDMESH_RETURN_IF_ERROR(CreateDirectories(dir));
  const std::string manifest_path = dir + "/" + std::string(kManifestFileName);
  std::error_code ec;
  std::vector<std::string> replaced;
  if (std::filesystem::exists(manifest_path, ec)) {
    if (!options.overwrite) {
      return Status::AlreadyExists(dir + " already holds a dataset (" + manifest_path + ")");
    }
    // Its shard files, so that Finish can remove those the new dataset does not reuse (a
    // damaged old manifest leaves its files to the user).
    if (auto old = Manifest::Load(dir); old.ok()) {
      for (const ShardEntry& e : old->shards) replaced.push_back(e.file);
    }
    // Remove the old manifest first: until the new one is written the directory is then
    // visibly incomplete rather than describing shards that are being replaced.
    std::filesystem::remove(manifest_path, ec);
    if (ec) return Status::IOError("remove " + manifest_path + ": " + ec.message());
  }
  std::unique_ptr<DatasetWriter> writer(new DatasetWriter(dir, std::move(schema), options));
  writer->replaced_shards_ = std::move(replaced);
  return writer;
}

Status DatasetWriter::EndSample() {
  if (finished_) return Status::FailedPrecondition(dir_ + ": writer already finished");
  SHARDMESH_RETURN_IF_ERROR(encoder_.EndSample());
  ++num_samples_;
  ++shard_samples_;
  if (encoder_.raw_size() >= options_.target_block_bytes) SHARDMESH_RETURN_IF_ERROR(FlushBlock());
  if (shard_samples_ >= options_.samples_per_shard) SHARDMESH_RETURN_IF_ERROR(FinishShard());
  return Status::OK();
}

Status DatasetWriter::FlushBlock() {
  if (encoder_.num_samples() == 0) return Status::OK();
  if (!shard_) {
    const auto index = static_cast<std::uint32_t>(manifest_.shards.size());
    SHARDMESH_ASSIGN_OR_RETURN(
        shard_, ShardWriter::Create(dir_ + "/" + ShardFileName(index), schema_.Digest(),
                                    schema_.label_index().has_value()));
  }
  SHARDMESH_ASSIGN_OR_RETURN(EncodedBlock block, encoder_.Finish());
  for (std::int64_t label : block.labels) ++manifest_.label_histogram[label];
  return shard_->AddBlock(block);
}

Status DatasetWriter::FinishShard() {
  SHARDMESH_RETURN_IF_ERROR(FlushBlock());
  if (!shard_) return Status::OK();
  SHARDMESH_ASSIGN_OR_RETURN(ShardSummary summary, shard_->Finish());
  shard_.reset();
  ShardEntry e;
  e.file = ShardFileName(static_cast<std::uint32_t>(manifest_.shards.size()));
  e.num_samples = summary.num_samples;
  e.first_sample = manifest_.num_samples;
  e.num_blocks = summary.num_blocks;
  e.bytes = summary.bytes;
  e.footer_checksum = summary.footer_checksum;
  e.file_checksum = summary.file_checksum;
  manifest_.num_samples += summary.num_samples;
  struct stat st {};
  if (::stat((dir_ + "/" + e.file).c_str(), &st) != 0) st = {};
  written_.emplace_back(st.st_dev, st.st_ino);
  manifest_.shards.push_back(std::move(e));
  shard_samples_ = 0;
  return Status::OK();
}

Result<Manifest> DatasetWriter::Finish() {
  if (finished_) return Status::FailedPrecondition(dir_ + ": writer already finished");
  if (num_samples_ == 0) return Status::InvalidArgument(dir_ + ": no samples written");
  SHARDMESH_RETURN_IF_ERROR(FinishShard());
  SHARDMESH_RETURN_IF_ERROR(SyncDirectory(dir_));
  SHARDMESH_RETURN_IF_ERROR(manifest_.Store(dir_));
  finished_ = true;
  for (const std::string& file : replaced_shards_) {
    const bool reused = std::any_of(manifest_.shards.begin(), manifest_.shards.end(),
                                    [&](const ShardEntry& e) { return e.file == file; });
    // Only plain names: an old manifest names files inside the directory.
    if (!reused && file.find('/') == std::string::npos) ::unlink((dir_ + "/" + file).c_str());
  }
  return manifest_;
}

}  // namespace shardmesh::loader
