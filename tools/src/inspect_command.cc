// `shardmesh inspect`: summary, schema, label histogram and per-shard table of a dataset;
// --json for machines, --verify to check every checksum and decode every block.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/manifest.h"

namespace shardmesh::tools {
namespace {

struct InspectArgs {
  std::string dir;
  bool json = false;
  bool verify = false;
};

struct ShardStats {
  std::uint64_t blocks = 0, raw = 0, compressed = 0;
};

double Ratio(std::uint64_t raw, std::uint64_t compressed) {
  return compressed ? static_cast<double>(raw) / static_cast<double>(compressed) : 0.0;
}

void RunInspect(const InspectArgs& args) {
  auto opened = loader::Dataset::Open(args.dir);
  if (!opened.ok()) {
    std::cerr << "inspect: " << opened.status().ToString() << "\n";
    SetExitCode(1);
    return;
  }
  const loader::Dataset& ds = **opened;
  const loader::Manifest& m = ds.manifest();
  std::vector<ShardStats> shards(ds.num_shards());
  ShardStats total;
  for (const loader::BlockInfo& b : ds.blocks()) {
    ShardStats& s = shards[b.shard];
    ++s.blocks;
    s.raw += b.raw_size;
    s.compressed += b.compressed_size;
    ++total.blocks;
    total.raw += b.raw_size;
    total.compressed += b.compressed_size;
  }
  std::uint64_t bytes = 0;
  for (const auto& e : m.shards) bytes += e.bytes;
  Status verify;
  if (args.verify) verify = ds.VerifyAll();

  if (args.json) {
    nlohmann::json j;
    j["dir"] = args.dir;
    j["num_samples"] = ds.num_samples();
    j["num_shards"] = ds.num_shards();
    j["num_blocks"] = total.blocks;
    j["bytes"] = bytes;
    j["raw_bytes"] = total.raw;
    j["compression_ratio"] = Ratio(total.raw, total.compressed);
    j["schema"] = nlohmann::json::parse(loader::SchemaToJson(ds.schema()));
    nlohmann::json hist = nlohmann::json::object();
    for (const auto& [label, count] : m.label_histogram) hist[std::to_string(label)] = count;
    j["label_histogram"] = hist;
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = 0; i < m.shards.size(); ++i) {
      const auto& e = m.shards[i];
      list.push_back({{"file", e.file},
                      {"num_samples", e.num_samples},
                      {"first_sample", e.first_sample},
                      {"num_blocks", shards[i].blocks},
                      {"bytes", e.bytes},
                      {"raw_bytes", shards[i].raw},
                      {"compression_ratio", Ratio(shards[i].raw, shards[i].compressed)}});
    }
    j["shards"] = list;
    if (args.verify) {
      j["verify"] = verify.ok() ? nlohmann::json("ok") : nlohmann::json(verify.ToString());
    }
    // A directory whose name is not UTF-8 is printed with U+FFFD in its place.
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("dataset %s\n", args.dir.c_str());
    std::printf("  samples %llu, shards %zu, blocks %llu\n",
                static_cast<unsigned long long>(ds.num_samples()), ds.num_shards(),
                static_cast<unsigned long long>(total.blocks));
    std::printf("  %.2f MiB on disk, %.2f MiB decompressed, compression ratio %.2f\n",
                bytes / 1048576.0, total.raw / 1048576.0, Ratio(total.raw, total.compressed));
    std::printf("schema\n");
    const std::string schema = ds.schema().ToString();
    std::size_t pos = 0;
    while (pos < schema.size()) {
      const std::size_t nl = schema.find('\n', pos);
      std::printf("  %s\n", schema.substr(pos, nl - pos).c_str());
      pos = nl == std::string::npos ? schema.size() : nl + 1;
    }
    if (!m.label_histogram.empty()) {
      std::printf("label histogram (label: samples)\n");
      for (const auto& [label, count] : m.label_histogram) {
        std::printf("  %lld: %llu (%.1f%%)\n", static_cast<long long>(label),
                    static_cast<unsigned long long>(count),
                    100.0 * static_cast<double>(count) / static_cast<double>(ds.num_samples()));
      }
    }
    std::printf("%-18s %12s %14s %8s %12s %7s\n", "shard", "samples", "first_sample", "blocks",
                "bytes", "ratio");
    for (std::size_t i = 0; i < m.shards.size(); ++i) {
      const auto& e = m.shards[i];
      std::printf("%-18s %12llu %14llu %8llu %12llu %7.2f\n", e.file.c_str(),
                  static_cast<unsigned long long>(e.num_samples),
                  static_cast<unsigned long long>(e.first_sample),
                  static_cast<unsigned long long>(shards[i].blocks),
                  static_cast<unsigned long long>(e.bytes),
                  Ratio(shards[i].raw, shards[i].compressed));
    }
    if (args.verify && verify.ok()) {
      std::printf("verify: ok (%llu block checksums, %zu file checksums)\n",
                  static_cast<unsigned long long>(total.blocks), ds.num_shards());
    }
  }
  if (!verify.ok()) {
    std::cerr << "inspect: verify failed: " << verify.ToString() << "\n";
    SetExitCode(1);
    return;
  }
  SetExitCode(0);
}

}  // namespace

void RegisterInspect(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand("inspect", "Describe a dataset; --verify checks checksums");
  cmd->add_option("dir", args->dir, "Dataset directory")->required();
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_flag("--verify", args->verify, "Check every block and file checksum");
  cmd->callback([args] { RunInspect(*args); });
}

}  // namespace shardmesh::tools
