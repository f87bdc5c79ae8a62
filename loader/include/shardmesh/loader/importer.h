// Importer: turns JSON Lines or CSV records into a dataset (what `shardmesh pack` runs).
//
// The schema is inferred from the first record: integers -> int64, other numbers -> float64,
// strings -> string, arrays of numbers -> a tensor of that fixed length (JSONL only): int64
// when the first record's array holds only integers, else float32 (the dtype of features:
// values keep float32's 24-bit mantissa, and one outside its range is an error).
// ImportOptions::field_types overrides the inference per field: a scalar field takes int64,
// float64 or string; an array field (JSONL) takes a tensor dtype (float32, float64, int64,
// int32, int16, int8, uint32, uint8), and each element must fit it (integer dtypes take only
// JSON integers in their range).
// CSV takes field names from its header line. Every later record must have exactly the same
// fields with compatible types (an integer is accepted where a float64 is expected). The first
// bad line stops the import with an error naming the input file, the line number and the field.
//
// Thread-safety: the function keeps no shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/manifest.h"

namespace shardmesh::loader {

enum class ImportFormat { kJsonl, kCsv };

struct ImportOptions {
  std::string input;  // path of the JSONL or CSV file
  ImportFormat format = ImportFormat::kJsonl;
  std::string out_dir;                       // dataset directory to create
  std::uint64_t samples_per_shard = 100000;  // see DatasetWriterOptions
  std::size_t block_bytes = 256 * 1024;      // target uncompressed block size
  std::optional<std::string> label_field;    // must name an int64 field of the inferred schema
  bool overwrite = false;                    // replace an existing dataset in out_dir
  // Field name -> type name, replacing what the first record would give (see above). A name
  // the first record lacks, or a type its value cannot take, is an InvalidArgument.
  std::map<std::string, std::string> field_types;
  // Called every few thousand records with the number of input lines read (for progress
  // output); may be empty.
  std::function<void(std::uint64_t lines)> progress;
};

// Imports the records and returns the manifest written. InvalidArgument naming
// "<input>:<line>: field '<name>'" for malformed or mismatching records, an unsupported value
// type, an empty input, a bad label field or a bad field_types entry; NotFound/IOError for
// files.
Result<Manifest> ImportRecords(const ImportOptions& options);

std::optional<ImportFormat> ParseImportFormat(std::string_view name);

// OK if `type` is a name ImportOptions::field_types accepts (for one field kind or other);
// InvalidArgument listing the names otherwise.
Status CheckFieldTypeOverride(std::string_view type);

}  // namespace shardmesh::loader
