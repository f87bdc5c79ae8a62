#include "shardmesh/loader/synthetic.h"

#include <bit>
#include <cstring>
#include <vector>

#include "alias_table.h"
#include "shardmesh/common/random.h"
#include "shardmesh/loader/dataset_writer.h"
#include "shardmesh/loader/shard_reader.h"

namespace shardmesh::loader {

Result<Schema> SyntheticSchema(const SyntheticOptions& o) {
  std::vector<FieldSpec> fields;
  fields.push_back({"features", FieldType::kTensor, DType::kFloat32, {o.feature_dim}});
  fields.push_back({"tokens", FieldType::kTensor, DType::kUint32, {o.seq_len}});
  fields.push_back({"label", FieldType::kInt64, DType::kFloat32, {}});
  return Schema::Create(std::move(fields), "label");
}

Status GenerateSyntheticDataset(const SyntheticOptions& o) {
  if (o.samples == 0 || o.shards == 0 || o.feature_dim == 0 || o.seq_len == 0 || o.classes == 0 ||
      o.vocab_size == 0) {
    return Status::InvalidArgument(
        "synthetic dataset: samples, shards, feature_dim, seq_len, classes and vocab_size must "
        "be positive");
  }
  // Sizes whose tables or samples cannot be built (they ended in bad_alloc or a 15 GB process
  // before the block-size error).
  if (o.classes > kMaxSyntheticClasses || o.vocab_size > kMaxSyntheticVocab) {
    return Status::InvalidArgument(
        "synthetic dataset: classes must be at most " + std::to_string(kMaxSyntheticClasses) +
        " and vocab_size at most " + std::to_string(kMaxSyntheticVocab) + ", got " +
        std::to_string(o.classes) + " and " + std::to_string(o.vocab_size));
  }
  if (static_cast<std::uint64_t>(o.classes) * o.feature_dim > kMaxSyntheticCentroidValues) {
    return Status::InvalidArgument(
        "synthetic dataset: classes x feature_dim must be at most " +
        std::to_string(kMaxSyntheticCentroidValues) + ", got " +
        std::to_string(static_cast<std::uint64_t>(o.classes) * o.feature_dim));
  }
  if (const std::uint64_t bytes = 4ull * o.feature_dim + 4ull * o.seq_len;
      bytes > kMaxBlockRawBytes / 4) {
    return Status::InvalidArgument(
        "synthetic dataset: one sample would take " + std::to_string(bytes) + " bytes; at most " +
        std::to_string(kMaxBlockRawBytes / 4) + " (feature_dim and seq_len are 4 bytes each)");
  }
  if (o.shards > o.samples) {
    return Status::InvalidArgument("synthetic dataset: more shards (" + std::to_string(o.shards) +
                                   ") than samples (" + std::to_string(o.samples) + ")");
  }
  if (o.out_dir.empty()) return Status::InvalidArgument("synthetic dataset: no output directory");
  SHARDMESH_ASSIGN_OR_RETURN(Schema schema, SyntheticSchema(o));
  DatasetWriterOptions wo;
  wo.target_block_bytes = o.block_bytes;
  wo.samples_per_shard = o.samples;  // shard boundaries are placed explicitly below
  wo.overwrite = o.overwrite;
  SHARDMESH_ASSIGN_OR_RETURN(std::unique_ptr<DatasetWriter> writer,
                             DatasetWriter::Create(o.out_dir, schema, wo));

  Rng rng(o.seed);
  // Zipf with exponent 1: weight 1/(rank+1), so id 0 is the most frequent token and label 0 the
  // most frequent class.
  std::vector<double> token_weights(o.vocab_size), class_weights(o.classes);
  for (std::uint32_t i = 0; i < o.vocab_size; ++i) token_weights[i] = 1.0 / (i + 1.0);
  for (std::uint32_t i = 0; i < o.classes; ++i) class_weights[i] = 1.0 / (i + 1.0);
  const AliasTable tokens_dist(token_weights);
  const AliasTable class_dist(class_weights);
  // Features are a per-class centroid plus small noise, quantised to 1/256: separable by class
  // like real embeddings, and only partly compressible.
  std::vector<std::int32_t> centroids(static_cast<std::size_t>(o.classes) * o.feature_dim);
  for (auto& c : centroids) c = static_cast<std::int32_t>(rng.Uniform(513)) - 256;

  std::vector<float> features(o.feature_dim);
  std::vector<std::uint32_t> tokens(o.seq_len);
  const std::uint64_t base = o.samples / o.shards, extra = o.samples % o.shards;
  for (std::uint32_t shard = 0; shard < o.shards; ++shard) {
    const std::uint64_t count = base + (shard < extra ? 1 : 0);
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint32_t label = class_dist.Sample(rng);
      const std::int32_t* centroid = &centroids[static_cast<std::size_t>(label) * o.feature_dim];
      std::uint64_t bits = 0;
      for (std::uint32_t d = 0; d < o.feature_dim; ++d) {
        if (d % 8 == 0) bits = rng.Next();
        const auto noise = static_cast<std::int32_t>(bits & 0x3f) - 32;
        bits >>= 8;
        features[d] = static_cast<float>(centroid[d] + noise) * (1.0f / 256.0f);
      }
      for (std::uint32_t t = 0; t < o.seq_len; ++t) tokens[t] = tokens_dist.Sample(rng);
      // Tensor bytes are little-endian by definition; this build targets little-endian hosts.
      static_assert(std::endian::native == std::endian::little);
      writer->BeginSample();
      writer->AddTensor(ByteView(reinterpret_cast<const std::uint8_t*>(features.data()),
                                 features.size() * sizeof(float)));
      writer->AddTensor(ByteView(reinterpret_cast<const std::uint8_t*>(tokens.data()),
                                 tokens.size() * sizeof(std::uint32_t)));
      writer->AddInt64(label);
      SHARDMESH_RETURN_IF_ERROR(writer->EndSample());
    }
    SHARDMESH_RETURN_IF_ERROR(writer->CloseShard());
  }
  return writer->Finish().status();
}

}  // namespace shardmesh::loader
