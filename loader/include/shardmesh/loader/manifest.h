// Manifest: the JSON document (manifest.json) that describes a dataset directory: format name
// and version, schema, sample count, the shard list with per-shard counts and checksums, and
// the label histogram.
//
//   {"format": "shardmesh-dataset", "version": 1,
//    "schema": {"fields": [{"name": "features", "type": "tensor", "dtype": "float32",
//                           "shape": [256]}, {"name": "label", "type": "int64"}],
//               "label_field": "label"},
//    "num_samples": 1000,
//    "shards": [{"file": "shard-00000.smd", "num_samples": 1000, "first_sample": 0,
//                "num_blocks": 4, "bytes": 123456, "footer_checksum": "<16 hex digits>",
//                "file_checksum": "<16 hex digits>"}],
//    "label_histogram": {"0": 600, "1": 400}}
//
// Checksums are XXH3-64 written as 16 lower-case hex digits (JSON numbers lose 64-bit
// precision in many readers). The version is append-only: readers reject versions they do not
// know. A Manifest is a plain value; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/schema.h"

namespace shardmesh::loader {

inline constexpr std::string_view kManifestFormat = "shardmesh-dataset";
inline constexpr int kManifestVersion = 1;
inline constexpr std::string_view kManifestFileName = "manifest.json";

struct ShardEntry {
  std::string file;  // file name relative to the dataset directory
  std::uint64_t num_samples = 0;
  std::uint64_t first_sample = 0;  // global index of the shard's first sample
  std::uint64_t num_blocks = 0;
  std::uint64_t bytes = 0;  // file size
  std::uint64_t footer_checksum = 0;
  std::uint64_t file_checksum = 0;
};

struct Manifest {
  Schema schema;
  std::uint64_t num_samples = 0;
  std::vector<ShardEntry> shards;
  std::map<std::int64_t, std::uint64_t> label_histogram;  // empty without a label field

  // Parses a manifest. `where` (usually the path) prefixes error messages. Corruption for a
  // foreign format or unknown version (like a shard's), malformed JSON, missing or mistyped
  // keys, an invalid schema, or shard counts that do not add up (first_sample not contiguous,
  // sum of shard samples != num_samples).
  static Result<Manifest> Parse(std::string_view json, std::string_view where);
  // Reads and parses <dir>/manifest.json.
  static Result<Manifest> Load(const std::string& dir);
  // The JSON text (pretty-printed, stable key order).
  std::string Serialize() const;
  // Writes <dir>/manifest.json atomically.
  Status Store(const std::string& dir) const;
};

// Schema <-> JSON text of the "schema" object, for tools that print it.
std::string SchemaToJson(const Schema& schema);

}  // namespace shardmesh::loader
