// Fuzzes `shardmesh pack`'s importer: arbitrary bytes as a JSONL or CSV input file. No crash,
// hang or leak on any input; an input it accepts gives a dataset that opens and reads whole:
// every block decodes and the blocks hold the manifest's sample count.
// Input: [options][file bytes]; options bit 0 set = CSV, bit 1 = label_field "label", bit 2 =
// 64-byte blocks and 3 samples per shard (many blocks and shards from a short input).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/importer.h"

namespace {

const std::filesystem::path& WorkDir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() /
                              ("shardmesh-import-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shardmesh::loader;
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  const std::filesystem::path input = WorkDir() / "input";
  const std::filesystem::path out = WorkDir() / "out";
  {
    std::ofstream file(input, std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  ImportOptions options;
  options.input = input.string();
  options.out_dir = out.string();
  options.overwrite = true;
  options.format = (flags & 1) != 0 ? ImportFormat::kCsv : ImportFormat::kJsonl;
  if ((flags & 2) != 0) options.label_field = "label";
  if ((flags & 4) != 0) {
    options.block_bytes = 64;
    options.samples_per_shard = 3;
  }
  auto manifest = ImportRecords(options);
  if (manifest.ok()) {
    auto dataset = Dataset::Open(out.string());
    if (!dataset.ok()) __builtin_trap();
    if ((*dataset)->num_samples() != manifest->num_samples) __builtin_trap();
    std::uint64_t samples = 0;
    for (std::uint32_t b = 0; b < (*dataset)->blocks().size(); ++b) {
      auto block = (*dataset)->ReadBlock(b);
      if (!block.ok()) __builtin_trap();
      samples += (*block)->num_samples();
    }
    if (samples != manifest->num_samples) __builtin_trap();
  }
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
  return 0;
}
