// Shard format micro benchmarks on realistic samples (float32 features [256], uint32 tokens
// [128] Zipf, int64 label; 256 KiB blocks, from the synthetic generator).
//
// BM_Lz4DecompressOnly and BM_PreadLz4Only are the baselines: the least work any reader of
// this format must do. BM_DecodeBlock (decompress + parse) and BM_ReadBlock (pread + verify +
// decompress + parse) should stay close to them; the ratio is the format's overhead.
// BM_ParseOnly isolates the msgpack parsers (0 = direct, 1 = msgpack-cxx visitor,
// 2 = msgpack-cxx unpack with zero-copy references).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "shardmesh/common/hash.h"
#include "shardmesh/loader/block_codec.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/synthetic.h"

namespace shardmesh::loader {
namespace {

BlockParser ParserArg(std::int64_t i) {
  return i == 0 ? BlockParser::kDirect
                : (i == 1 ? BlockParser::kMsgpackVisitor : BlockParser::kMsgpackUnpack);
}
const char* ParserName(std::int64_t i) {
  return i == 0 ? "direct" : (i == 1 ? "msgpack-visitor" : "msgpack-unpack");
}

// A temporary synthetic dataset shared by all benchmarks, removed at exit.
class Fixture {
 public:
  static Fixture& Get() {
    static Fixture f;
    return f;
  }
  ~Fixture() {
    ds_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const Dataset& ds() const { return *ds_; }
  const SharedBytes& compressed() const { return compressed_; }
  const BlockInfo& info() const { return ds_->blocks()[0]; }

 private:
  Fixture() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "smfmtbench-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    SyntheticOptions o;
    o.out_dir = dir_ + "/ds";
    o.samples = 20000;  // ~30 MiB raw, ~120 blocks: stays in the page cache
    o.shards = 2;
    if (Status s = GenerateSyntheticDataset(o); !s.ok()) std::abort();
    auto ds = Dataset::Open(o.out_dir);
    if (!ds.ok()) std::abort();
    ds_ = *ds;
    compressed_ = *ds_->ReadCompressedBlock(0);
  }
  std::string dir_;
  std::shared_ptr<const Dataset> ds_;
  SharedBytes compressed_;
};

void BM_EncodeBlock(benchmark::State& state) {
  const Fixture& f = Fixture::Get();
  auto block = *f.ds().ReadBlock(0);
  BlockEncoder enc(f.ds().schema());
  for (auto _ : state) {
    for (std::size_t i = 0; i < block->num_samples(); ++i) {
      const SampleView s = block->sample(i);
      enc.BeginSample();
      enc.AddTensor(s.field(0).AsTensor().data);
      enc.AddTensor(s.field(1).AsTensor().data);
      enc.AddInt64(s.field(2).AsInt64());
      if (!enc.EndSample().ok()) state.SkipWithError("encode failed");
    }
    auto encoded = enc.Finish();
    benchmark::DoNotOptimize(encoded);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * block->raw_bytes());
}
BENCHMARK(BM_EncodeBlock);

void BM_Lz4DecompressOnly(benchmark::State& state) {
  const Fixture& f = Fixture::Get();
  std::vector<char> out(f.info().raw_size);
  for (auto _ : state) {
    const int n =
        LZ4_decompress_safe(reinterpret_cast<const char*>(f.compressed().data()), out.data(),
                            static_cast<int>(f.compressed().size()), static_cast<int>(out.size()));
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * f.info().raw_size);
}
BENCHMARK(BM_Lz4DecompressOnly);

// XXH3-64 of one compressed block: the verification every read pays.
void BM_ChecksumOnly(benchmark::State& state) {
  const Fixture& f = Fixture::Get();
  for (auto _ : state) benchmark::DoNotOptimize(Hash64(f.compressed().view()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * f.info().raw_size);
}
BENCHMARK(BM_ChecksumOnly);

void BM_DecodeBlock(benchmark::State& state) {
  const Fixture& f = Fixture::Get();
  const BlockParser parser = ParserArg(state.range(0));
  for (auto _ : state) {
    auto raw = DecompressBlock(f.compressed().view(), f.info().raw_size, "bench");
    auto block = ParseBlock(f.ds().schema(), *raw, 0, f.info().num_samples, "bench", parser);
    if (!block.ok()) state.SkipWithError(block.status().ToString().c_str());
    benchmark::DoNotOptimize(block);
  }
  state.SetLabel(ParserName(state.range(0)));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * f.info().raw_size);
}
BENCHMARK(BM_DecodeBlock)->Arg(0)->Arg(1)->Arg(2);

void BM_ParseOnly(benchmark::State& state) {
  const Fixture& f = Fixture::Get();
  const BlockParser parser = ParserArg(state.range(0));
  const SharedBytes raw = *DecompressBlock(f.compressed().view(), f.info().raw_size, "bench");
  for (auto _ : state) {
    auto block = ParseBlock(f.ds().schema(), raw, 0, f.info().num_samples, "bench", parser);
    benchmark::DoNotOptimize(block);
  }
  state.SetLabel(ParserName(state.range(0)));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * f.info().num_samples);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * f.info().raw_size);
}
BENCHMARK(BM_ParseOnly)->Arg(0)->Arg(1)->Arg(2);

// pread + LZ4_decompress_safe over every block: the raw limit a loader is compared with.
void BM_PreadLz4Only(benchmark::State& state) {
  const Fixture& f = Fixture::Get();
  const auto blocks = f.ds().blocks();
  std::vector<int> fds;
  for (std::uint32_t s = 0; s < f.ds().num_shards(); ++s) {
    fds.push_back(::open(f.ds().ShardPath(s).c_str(), O_RDONLY));
  }
  std::vector<char> in, out;
  std::size_t next = 0;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    const BlockInfo& b = blocks[next];
    next = (next + 1) % blocks.size();
    in.resize(b.compressed_size);
    out.resize(b.raw_size);
    if (::pread(fds[b.shard], in.data(), in.size(), static_cast<off_t>(b.offset)) !=
        static_cast<ssize_t>(in.size())) {
      state.SkipWithError("pread failed");
    }
    benchmark::DoNotOptimize(LZ4_decompress_safe(in.data(), out.data(), static_cast<int>(in.size()),
                                                 static_cast<int>(out.size())));
    bytes += b.raw_size;
  }
  for (int fd : fds) ::close(fd);
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_PreadLz4Only);

// Dataset::ReadBlock over every block: pread + checksum + decompress + parse.
void BM_ReadBlock(benchmark::State& state) {
  const Fixture& f = Fixture::Get();
  const auto n = static_cast<std::uint32_t>(f.ds().blocks().size());
  std::uint32_t next = 0;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    auto block = f.ds().ReadBlock(next);
    if (!block.ok()) state.SkipWithError(block.status().ToString().c_str());
    bytes += static_cast<std::int64_t>((*block)->raw_bytes());
    benchmark::DoNotOptimize(block);
    next = (next + 1) % n;
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_ReadBlock);

}  // namespace
}  // namespace shardmesh::loader

BENCHMARK_MAIN();
