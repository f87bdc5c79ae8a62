// `shardmesh pack`: imports JSON Lines or CSV records into a dataset (see loader/importer.h).
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "shardmesh/loader/importer.h"

namespace shardmesh::tools {
namespace {

struct PackArgs {
  loader::ImportOptions options;
  std::string format;  // empty: from the input's extension (.csv: csv), else jsonl
  std::string label_field;
  std::size_t block_kib = 256;
  std::vector<std::string> field_types;  // FIELD=TYPE
};

// --format's default: csv for a name ending in .csv (any case), jsonl otherwise (a .csv file
// read as JSON failed at line 1 with a JSON parse error).
std::string FormatOfInput(const std::string& input) {
  if (input.size() < 4) return "jsonl";
  std::string ext = input.substr(input.size() - 4);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".csv" ? "csv" : "jsonl";
}

void RunPack(PackArgs& args) {
  loader::ImportOptions o = args.options;
  if (args.format.empty()) args.format = FormatOfInput(o.input);
  const auto format = loader::ParseImportFormat(args.format);
  if (!format) {
    std::cerr << "pack: --format must be jsonl or csv, not '" << args.format << "'\n";
    SetExitCode(2);
    return;
  }
  if (o.samples_per_shard == 0 || args.block_kib == 0) {
    std::cerr << "pack: --samples-per-shard and --block-kib must be positive\n";
    SetExitCode(2);
    return;
  }
  for (const std::string& entry : args.field_types) {
    const std::size_t eq = entry.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      std::cerr << "pack: --field-type takes FIELD=TYPE, not '" << entry << "'\n";
      SetExitCode(2);
      return;
    }
    if (Status known = loader::CheckFieldTypeOverride(entry.substr(eq + 1)); !known.ok()) {
      std::cerr << "pack: --field-type " << entry << ": " << known.message() << "\n";
      SetExitCode(2);
      return;
    }
    if (!o.field_types.emplace(entry.substr(0, eq), entry.substr(eq + 1)).second) {
      std::cerr << "pack: --field-type gives field '" << entry.substr(0, eq) << "' twice\n";
      SetExitCode(2);
      return;
    }
  }
  o.format = *format;
  o.block_bytes = args.block_kib * 1024;
  if (!args.label_field.empty()) o.label_field = args.label_field;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (tty) {
    o.progress = [](std::uint64_t lines) {
      std::fprintf(stderr, "\rpack: %llu lines", static_cast<unsigned long long>(lines));
    };
  }
  auto manifest = loader::ImportRecords(o);
  if (tty) std::fprintf(stderr, "\n");
  if (!manifest.ok()) {
    std::cerr << "pack: " << manifest.status().ToString() << "\n";
    SetExitCode(1);
    return;
  }
  std::printf("packed %llu samples into %zu shards in %s\n%s",
              static_cast<unsigned long long>(manifest->num_samples), manifest->shards.size(),
              o.out_dir.c_str(), manifest->schema.ToString().c_str());
  SetExitCode(0);
}

}  // namespace

void RegisterPack(CLI::App& app) {
  auto args = std::make_shared<PackArgs>();
  CLI::App* cmd = app.add_subcommand("pack", "Pack a JSONL or CSV file into a dataset");
  cmd->add_option("--input", args->options.input, "Input file")->required();
  cmd->add_option("--format", args->format,
                  "jsonl or csv (default: csv for an --input ending in .csv, else jsonl)");
  cmd->add_option("--out", args->options.out_dir, "Output dataset directory")->required();
  cmd->add_option("--samples-per-shard", args->options.samples_per_shard, "Samples per shard")
      ->transform(UnsignedDecimal())
      ->capture_default_str();
  cmd->add_option("--label-field", args->label_field, "int64 field used as the label");
  cmd->add_option("--block-kib", args->block_kib, "Target uncompressed block size in KiB")
      ->transform(UnsignedDecimal())
      ->check(CLI::Range(std::size_t{1}, kMaxBlockKib))
      ->capture_default_str();
  cmd->add_option("--field-type", args->field_types,
                  "FIELD=TYPE, replacing the type inferred from the first record (repeatable): "
                  "int64, float64 or string for a single value; float32, float64, int64, int32, "
                  "int16, int8, uint32 or uint8 for an array (JSONL)")
      ->take_all();
  cmd->add_flag("--force", args->options.overwrite, "Replace an existing dataset in --out");
  cmd->callback([args] { RunPack(*args); });
}

}  // namespace shardmesh::tools
