// `shardmesh gen`: writes a deterministic synthetic dataset (see loader/synthetic.h).
#include <chrono>
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/synthetic.h"

namespace shardmesh::tools {
namespace {

struct GenArgs {
  loader::SyntheticOptions options;
  std::size_t block_kib = 256;
};

void RunGen(const GenArgs& args) {
  loader::SyntheticOptions o = args.options;
  if (args.block_kib == 0) {
    std::cerr << "gen: --block-kib must be positive\n";
    SetExitCode(2);
    return;
  }
  o.block_bytes = args.block_kib * 1024;
  const auto start = std::chrono::steady_clock::now();
  const Status s = loader::GenerateSyntheticDataset(o);
  if (!s.ok()) {
    std::cerr << "gen: " << s.ToString() << "\n";
    SetExitCode(s.IsInvalidArgument() ? 2 : 1);
    return;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto ds = loader::Dataset::Open(o.out_dir);
  if (!ds.ok()) {
    std::cerr << "gen: wrote " << o.out_dir << " but cannot reopen it: " << ds.status().ToString()
              << "\n";
    SetExitCode(1);
    return;
  }
  std::uint64_t raw = 0, disk = 0;
  for (const auto& b : (*ds)->blocks()) {
    raw += b.raw_size;
    disk += b.compressed_size;
  }
  std::printf(
      "wrote %llu samples in %zu shards, %zu blocks to %s: %.1f MiB raw, %.1f MiB "
      "compressed (ratio %.2f) in %.2f s (%.0f MiB/s raw)\n",
      static_cast<unsigned long long>((*ds)->num_samples()), (*ds)->num_shards(),
      (*ds)->blocks().size(), o.out_dir.c_str(), raw / 1048576.0, disk / 1048576.0,
      disk ? static_cast<double>(raw) / static_cast<double>(disk) : 0.0, secs,
      raw / 1048576.0 / (secs > 0 ? secs : 1e-9));
  SetExitCode(0);
}

}  // namespace

void RegisterGen(CLI::App& app) {
  auto args = std::make_shared<GenArgs>();
  CLI::App* cmd = app.add_subcommand("gen", "Generate a deterministic synthetic dataset");
  auto& o = args->options;
  cmd->add_option("--out", o.out_dir, "Output dataset directory")->required();
  cmd->add_option("--samples", o.samples, "Number of samples")
      ->transform(UnsignedDecimal())
      ->capture_default_str();
  cmd->add_option("--shards", o.shards, "Number of shard files")
      ->transform(UnsignedDecimal())
      ->capture_default_str();
  cmd->add_option("--feature-dim", o.feature_dim, "float32 features per sample")
      ->transform(UnsignedDecimal())
      ->capture_default_str();
  cmd->add_option("--seq-len", o.seq_len, "uint32 tokens per sample")
      ->transform(UnsignedDecimal())
      ->capture_default_str();
  cmd->add_option("--classes", o.classes, "Number of label classes")
      ->transform(UnsignedDecimal())
      ->capture_default_str();
  cmd->add_option("--vocab", o.vocab_size, "Token vocabulary size")
      ->transform(UnsignedDecimal())
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Random seed (same seed, same bytes)")
      ->transform(UnsignedDecimal())
      ->capture_default_str();
  cmd->add_option("--block-kib", args->block_kib, "Target uncompressed block size in KiB")
      ->transform(UnsignedDecimal())
      ->check(CLI::Range(std::size_t{1}, kMaxBlockKib))
      ->capture_default_str();
  cmd->add_flag("--force", o.overwrite, "Replace an existing dataset in --out");
  cmd->callback([args] { RunGen(*args); });
}

}  // namespace shardmesh::tools
