// Synthetic datasets for demos, tests and benchmarks: realistic-looking classification samples
// ("features" float32 [feature_dim], "tokens" uint32 [seq_len] from a Zipf-like vocabulary,
// "label" int64 with skewed class frequencies, the label field).
//
// Output is bit-identical for identical options on every platform (shardmesh::Rng only, no
// <random> distributions). Thread-safe: the function keeps no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/schema.h"

namespace shardmesh::loader {

// Bounds of SyntheticOptions checked by GenerateSyntheticDataset (InvalidArgument beyond).
inline constexpr std::uint32_t kMaxSyntheticClasses = 1u << 20;
inline constexpr std::uint32_t kMaxSyntheticVocab = 1u << 24;
inline constexpr std::uint64_t kMaxSyntheticCentroidValues = 1ull << 26;  // classes x feature_dim

struct SyntheticOptions {
  std::string out_dir;  // created if missing; must not already hold a dataset unless overwrite
  std::uint64_t samples = 100000;
  std::uint32_t shards = 8;          // samples are split as evenly as possible
  std::uint32_t feature_dim = 256;   // float32 elements per sample
  std::uint32_t seq_len = 128;       // uint32 tokens per sample
  std::uint32_t classes = 10;        // labels 0..classes-1, class c about twice as likely as c+1
  std::uint32_t vocab_size = 32000;  // token ids 0..vocab_size-1, Zipf(s = 1.1)
  std::uint64_t seed = 1;
  std::size_t block_bytes = 256 * 1024;  // target uncompressed block size
  bool overwrite = false;
};

// The schema GenerateSyntheticDataset writes for `options`.
Result<Schema> SyntheticSchema(const SyntheticOptions& options);

// Writes the dataset. InvalidArgument for zero samples/shards/dims/classes or more shards than
// samples; AlreadyExists / IOError from the writer.
Status GenerateSyntheticDataset(const SyntheticOptions& options);

}  // namespace shardmesh::loader
