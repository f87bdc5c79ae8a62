#include "shardmesh/loader/dataset_catalog.h"

#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "shardmesh/common/hash.h"
#include "shardmesh/loader/shard_reader.h"
#include "shardmesh/loader/streaming_config.h"

namespace shardmesh::loader {
namespace {

constexpr std::string_view kCatalogMagic = "SMCAT001";

void PutU32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}

// Reads a u32-length-prefixed chunk at `pos`; Corruption naming `what` when it does not fit.
Result<std::string_view> GetChunk(std::string_view in, std::size_t& pos, std::string_view where,
                                  std::string_view what) {
  if (in.size() - pos < 4) {
    return Status::Corruption(fmt::format("{}: truncated before {} length", where, what));
  }
  std::uint32_t len = 0;
  for (int i = 0; i < 4; ++i) len |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(in[pos + i])) << (8 * i);
  pos += 4;
  if (in.size() - pos < len) {
    return Status::Corruption(
        fmt::format("{}: {} claims {} bytes, {} left", where, what, len, in.size() - pos));
  }
  std::string_view chunk = in.substr(pos, len);
  pos += len;
  return chunk;
}

}  // namespace

Result<std::shared_ptr<const DatasetCatalog>> DatasetCatalog::FromDataset(const Dataset& dataset) {
  std::shared_ptr<DatasetCatalog> c(new DatasetCatalog());
  c->manifest_ = dataset.manifest();
  std::vector<std::string> footers(dataset.num_shards());
  // Re-assemble each shard's footer from the opened dataset's block index and labels.
  std::vector<ShardFooter> parsed(dataset.num_shards());
  for (std::uint32_t s = 0; s < dataset.num_shards(); ++s) {
    parsed[s].schema_digest = dataset.schema().Digest();
    parsed[s].num_samples = c->manifest_.shards[s].num_samples;
  }
  for (const BlockInfo& b : dataset.blocks()) {
    parsed[b.shard].blocks.push_back(
        {b.offset, b.compressed_size, b.raw_size, b.num_samples, b.checksum});
  }
  const auto labels = dataset.labels();
  for (std::uint32_t s = 0; s < dataset.num_shards(); ++s) {
    if (!labels.empty()) {
      const auto& e = c->manifest_.shards[s];
      parsed[s].labels.assign(labels.begin() + static_cast<std::ptrdiff_t>(e.first_sample),
                              labels.begin() + static_cast<std::ptrdiff_t>(e.first_sample + e.num_samples));
    }
    footers[s] = EncodeShardFooter(parsed[s]);
  }
  SHARDMESH_RETURN_IF_ERROR(c->Build(std::move(footers), dataset.dir()));
  return std::shared_ptr<const DatasetCatalog>(std::move(c));
}

Result<std::shared_ptr<const DatasetCatalog>> DatasetCatalog::Decode(ByteView bytes,
                                                                     std::string_view where) {
  const std::string_view in = AsChars(bytes);
  if (in.size() < kCatalogMagic.size() || in.substr(0, kCatalogMagic.size()) != kCatalogMagic) {
    return Status::Corruption(fmt::format("{}: not a dataset catalog (bad magic)", where));
  }
  std::size_t pos = kCatalogMagic.size();
  SHARDMESH_ASSIGN_OR_RETURN(std::string_view manifest_json, GetChunk(in, pos, where, "manifest"));
  std::shared_ptr<DatasetCatalog> c(new DatasetCatalog());
  SHARDMESH_ASSIGN_OR_RETURN(c->manifest_,
                             Manifest::Parse(manifest_json, fmt::format("{}: manifest", where)));
  std::vector<std::string> footers;
  for (std::uint32_t s = 0; s < c->manifest_.shards.size(); ++s) {
    SHARDMESH_ASSIGN_OR_RETURN(
        std::string_view f,
        GetChunk(in, pos, where, fmt::format("footer of {}", c->manifest_.shards[s].file)));
    footers.emplace_back(f);
  }
  if (pos != in.size()) {
    return Status::Corruption(fmt::format("{}: {} trailing bytes", where, in.size() - pos));
  }
  SHARDMESH_RETURN_IF_ERROR(c->Build(std::move(footers), where));
  return std::shared_ptr<const DatasetCatalog>(std::move(c));
}

Status DatasetCatalog::Build(std::vector<std::string> footers, std::string_view where) {
  const std::uint64_t schema_digest = manifest_.schema.Digest();
  const bool with_labels = manifest_.schema.label_index().has_value();
  Hasher64 id_hash;
  id_hash.Update(kCatalogMagic);
  encoded_.assign(kCatalogMagic);
  const std::string manifest_json = manifest_.Serialize();
  PutU32(encoded_, static_cast<std::uint32_t>(manifest_json.size()));
  encoded_ += manifest_json;
  for (std::uint32_t s = 0; s < manifest_.shards.size(); ++s) {
    const ShardEntry& e = manifest_.shards[s];
    const std::string at = fmt::format("{}: {}", where, e.file);
    if (Hash64(AsBytes(footers[s])) != e.footer_checksum) {
      return Status::Corruption(at + ": footer checksum differs from the manifest");
    }
    SHARDMESH_ASSIGN_OR_RETURN(ShardFooter f, ParseShardFooter(AsBytes(footers[s]), at));
    if (f.schema_digest != schema_digest || f.num_samples != e.num_samples ||
        f.blocks.size() != e.num_blocks || (with_labels && f.labels.size() != f.num_samples)) {
      return Status::Corruption(at + ": footer and manifest disagree");
    }
    shard_first_block_.push_back(static_cast<std::uint32_t>(blocks_.size()));
    std::uint64_t first = e.first_sample;
    for (std::uint32_t b = 0; b < f.blocks.size(); ++b) {
      const ShardBlock& sb = f.blocks[b];
      blocks_.push_back({s, b, first, sb.num_samples, sb.offset, sb.compressed_size, sb.raw_size,
                         sb.checksum});
      first += sb.num_samples;
    }
    if (with_labels) labels_.insert(labels_.end(), f.labels.begin(), f.labels.end());
    id_hash.Update(&e.file_checksum, sizeof e.file_checksum);
    PutU32(encoded_, static_cast<std::uint32_t>(footers[s].size()));
    encoded_ += footers[s];
  }
  id_ = fmt::format("{:016x}", id_hash.Digest());
  SHARDMESH_ASSIGN_OR_RETURN(layout_, MakeDatasetLayout(manifest_.schema, blocks_));
  return Status::OK();
}

}  // namespace shardmesh::loader
