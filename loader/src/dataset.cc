#include "shardmesh/loader/dataset.h"

#include <algorithm>
#include <map>
#include <set>

#include "shardmesh/common/hash.h"
#include "shardmesh/loader/block_codec.h"
#include "shardmesh/loader/shard_reader.h"

namespace shardmesh::loader {

Dataset::~Dataset() = default;

std::string Dataset::ShardPath(std::uint32_t shard) const {
  return dir_ + "/" + manifest_.shards[shard].file;
}

Result<std::shared_ptr<const Dataset>> Dataset::Open(const std::string& dir,
                                                     const OpenOptions& options) {
  if (dir.empty()) return Status::InvalidArgument("dataset directory: empty path");
  std::shared_ptr<Dataset> ds(new Dataset());
  ds->dir_ = dir;
  SHARDMESH_ASSIGN_OR_RETURN(ds->manifest_, Manifest::Load(dir));
  const Manifest& m = ds->manifest_;
  if (m.shards.size() > 0xffffffffULL) return Status::Corruption(dir + ": too many shards");
  const bool with_labels = m.schema.label_index().has_value();
  if (with_labels) ds->labels_.reserve(m.num_samples);
  const std::uint64_t digest = m.schema.Digest();
  for (std::uint32_t s = 0; s < m.shards.size(); ++s) {
    const ShardEntry& e = m.shards[s];
    const std::string path = ds->ShardPath(s);
    SHARDMESH_ASSIGN_OR_RETURN(std::unique_ptr<ShardReader> reader, ShardReader::Open(path));
    const ShardFooter& f = reader->footer();
    auto mismatch = [&](const std::string& what) {
      return Status::Corruption(path + ": " + what + " (manifest and shard disagree)");
    };
    if (reader->file_size() != e.bytes) {
      return mismatch("file has " + std::to_string(reader->file_size()) + " bytes, manifest says " +
                      std::to_string(e.bytes));
    }
    if (reader->footer_checksum() != e.footer_checksum) return mismatch("footer checksum differs");
    if (f.schema_digest != digest) return mismatch("schema digest differs");
    if (f.num_samples != e.num_samples) {
      return mismatch("shard holds " + std::to_string(f.num_samples) + " samples, manifest says " +
                      std::to_string(e.num_samples));
    }
    if (f.blocks.size() != e.num_blocks) {
      return mismatch("shard has " + std::to_string(f.blocks.size()) + " blocks, manifest says " +
                      std::to_string(e.num_blocks));
    }
    if (with_labels != !f.labels.empty() && f.num_samples != 0) {
      return mismatch(with_labels ? "labels missing" : "unexpected labels");
    }
    if (options.verify_file_checksums) {
      SHARDMESH_ASSIGN_OR_RETURN(std::uint64_t sum, reader->ComputeFileChecksum());
      if (sum != e.file_checksum) return Status::Corruption(path + ": file checksum mismatch");
    }
    std::uint64_t first = e.first_sample;
    for (std::uint32_t b = 0; b < f.blocks.size(); ++b) {
      const ShardBlock& sb = f.blocks[b];
      BlockInfo info;
      info.shard = s;
      info.index_in_shard = b;
      info.first_sample = first;
      info.num_samples = sb.num_samples;
      info.offset = sb.offset;
      info.compressed_size = sb.compressed_size;
      info.raw_size = sb.raw_size;
      info.checksum = sb.checksum;
      ds->blocks_.push_back(info);
      first += sb.num_samples;
    }
    if (with_labels) ds->labels_.insert(ds->labels_.end(), f.labels.begin(), f.labels.end());
    ds->shards_.push_back(std::move(reader));
  }
  if (ds->blocks_.size() > 0xffffffffULL) return Status::Corruption(dir + ": too many blocks");
  return std::shared_ptr<const Dataset>(std::move(ds));
}

std::uint32_t Dataset::BlockOfSample(std::uint64_t global_index) const {
  auto it =
      std::upper_bound(blocks_.begin(), blocks_.end(), global_index,
                       [](std::uint64_t g, const BlockInfo& b) { return g < b.first_sample; });
  return static_cast<std::uint32_t>(std::distance(blocks_.begin(), it) - 1);
}

Result<SharedBytes> Dataset::ReadCompressedBlock(std::uint32_t block) const {
  if (block >= blocks_.size()) {
    return Status::InvalidArgument(dir_ + ": no block " + std::to_string(block) + " (dataset has " +
                                   std::to_string(blocks_.size()) + ")");
  }
  const BlockInfo& info = blocks_[block];
  return shards_[info.shard]->ReadCompressedBlock(info.index_in_shard);
}

Result<std::shared_ptr<const DecodedBlock>> Dataset::ReadBlock(std::uint32_t block) const {
  if (block >= blocks_.size()) {
    return Status::InvalidArgument(dir_ + ": no block " + std::to_string(block) + " (dataset has " +
                                   std::to_string(blocks_.size()) + ")");
  }
  const BlockInfo& info = blocks_[block];
  // The compressed bytes die right after decompression, so each thread reuses one buffer
  // instead of allocating a block-sized one per read.
  thread_local std::vector<std::uint8_t> scratch;
  SHARDMESH_ASSIGN_OR_RETURN(ByteView compressed, shards_[info.shard]->ReadCompressedBlockInto(
                                                      info.index_in_shard, scratch));
  // The read verified the checksum already; decode without hashing twice.
  const std::string where = BlockWhere(ShardPath(info.shard), info.index_in_shard);
  SHARDMESH_ASSIGN_OR_RETURN(SharedBytes raw, DecompressBlock(compressed, info.raw_size, where));
  return ParseBlock(schema(), std::move(raw), info.first_sample, info.num_samples, where);
}

Result<std::shared_ptr<const DecodedBlock>> Dataset::DecodeBlock(const Schema& schema,
                                                                 const BlockInfo& info,
                                                                 SharedBytes compressed,
                                                                 std::string_view where) {
  if (compressed.size() != info.compressed_size) {
    return Status::Corruption(std::string(where) + ": " + std::to_string(compressed.size()) +
                              " compressed bytes, index says " +
                              std::to_string(info.compressed_size));
  }
  if (Hash64(compressed.view()) != info.checksum) {
    return Status::Corruption(std::string(where) + ": checksum mismatch");
  }
  SHARDMESH_ASSIGN_OR_RETURN(SharedBytes raw,
                             DecompressBlock(compressed.view(), info.raw_size, where));
  return ParseBlock(schema, std::move(raw), info.first_sample, info.num_samples, where);
}

Status Dataset::VerifyAll() const {
  // Every block is decoded, not only checksummed: a block that a writer got wrong has a valid
  // checksum and fails only when read.
  for (std::uint32_t b = 0; b < blocks_.size(); ++b) {
    SHARDMESH_RETURN_IF_ERROR(ReadBlock(b).status());
  }
  for (std::uint32_t s = 0; s < shards_.size(); ++s) {
    const ShardReader& reader = *shards_[s];
    SHARDMESH_ASSIGN_OR_RETURN(std::uint64_t sum, reader.ComputeFileChecksum());
    if (sum != manifest_.shards[s].file_checksum) {
      return Status::Corruption(reader.path() +
                                ": file checksum mismatch (every block checksum matched: the "
                                "damage is in the header, footer or trailer)");
    }
  }
  // The shards' footers (checksummed above) hold every sample's label: the manifest's
  // histogram must count exactly those.
  if (schema().label_index().has_value()) {
    std::map<std::int64_t, std::uint64_t> counted;
    for (std::int64_t label : labels_) ++counted[label];
    if (counted != manifest_.label_histogram) {
      std::string first;
      auto count_of = [](const auto& m, std::int64_t k) {
        auto it = m.find(k);
        return it == m.end() ? std::uint64_t{0} : it->second;
      };
      std::set<std::int64_t> keys;
      for (const auto& [k, v] : counted) keys.insert(k);
      for (const auto& [k, v] : manifest_.label_histogram) keys.insert(k);
      for (std::int64_t k : keys) {
        if (count_of(counted, k) != count_of(manifest_.label_histogram, k)) {
          first = "label " + std::to_string(k) + ": manifest " +
                  std::to_string(count_of(manifest_.label_histogram, k)) + ", shards " +
                  std::to_string(count_of(counted, k));
          break;
        }
      }
      return Status::Corruption(dir_ +
                                "/manifest.json: label_histogram disagrees with the "
                                "labels in the shards (" +
                                first + ")");
    }
  }
  return Status::OK();
}

}  // namespace shardmesh::loader
