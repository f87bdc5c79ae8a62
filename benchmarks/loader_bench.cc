// Loader micro benchmarks: building the epoch order and partition plan for a million samples,
// and StreamingLoader::Next() throughput over a small temporary synthetic dataset.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/epoch_order.h"
#include "shardmesh/loader/partition_plan.h"
#include "shardmesh/loader/streaming_loader.h"
#include "shardmesh/loader/synthetic.h"

namespace shardmesh::loader {
namespace {

// 1M samples in blocks of ~170 (a 256 KiB block of 1.5 KB samples), 8 shards.
DatasetLayout MillionSampleLayout() {
  std::vector<std::uint32_t> sizes, shards;
  std::uint64_t total = 0;
  for (std::uint32_t b = 0; total < 1000000; ++b) {
    const std::uint32_t n =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(160 + (b * 7) % 21, 1000000 - total));
    sizes.push_back(n);
    shards.push_back(b / 740);
    total += n;
  }
  return *DatasetLayout::Create(sizes, shards);
}

void BM_EpochOrder1M(benchmark::State& state) {
  const DatasetLayout layout = MillionSampleLayout();
  std::uint64_t epoch = 0;
  for (auto _ : state) {
    auto order =
        EpochOrder::Build(layout, {.seed = 1,
                                   .epoch = epoch++,
                                   .partitions = static_cast<std::uint32_t>(state.range(0)),
                                   .shuffle_window_blocks = 1});
    benchmark::DoNotOptimize(order->Global().data());
  }
  state.SetItemsProcessed(state.iterations() * 1000000);
}
BENCHMARK(BM_EpochOrder1M)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond);

void BM_PartitionPlan1M(benchmark::State& state) {
  const DatasetLayout layout = MillionSampleLayout();
  PlanOptions o;
  o.world_size = static_cast<std::uint32_t>(state.range(0));
  o.strategy = static_cast<Strategy>(state.range(1));
  std::vector<std::int64_t> labels;
  if (o.strategy == Strategy::kStratified) {
    labels.resize(layout.num_samples());
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 10);
  }
  for (auto _ : state) {
    auto plan = BuildPartitionPlan(layout, labels, o);
    benchmark::DoNotOptimize(plan->ranks.data());
    ++o.epoch;
  }
  state.SetItemsProcessed(state.iterations() * 1000000);
}
BENCHMARK(BM_PartitionPlan1M)
    ->Args({8, static_cast<int>(Strategy::kRoundRobin)})
    ->Args({7, static_cast<int>(Strategy::kRoundRobin)})
    ->Args({8, static_cast<int>(Strategy::kStratified)})
    ->Unit(benchmark::kMillisecond);

class TempDataset {
 public:
  TempDataset() {
    char tmpl[] = "/tmp/shardmesh_loader_bench_XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    dir_ = tmpl;
    SyntheticOptions o;
    o.out_dir = dir_ + "/data";
    o.samples = 20000;
    o.shards = 4;
    Status s = GenerateSyntheticDataset(o);
    if (!s.ok()) std::abort();
    dataset_ = *Dataset::Open(o.out_dir);
  }
  ~TempDataset() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::shared_ptr<const Dataset> dataset() const { return dataset_; }

 private:
  std::string dir_;
  std::shared_ptr<const Dataset> dataset_;
};

// Whole epochs of Next(), touching one byte of every field, with 1 or 2 decode threads.
void BM_StreamingLoaderNext(benchmark::State& state) {
  static TempDataset* temp = new TempDataset();
  auto loader = std::move(
      StreamingLoader::Create(temp->dataset(), StreamingConfig(1, 0).WithPrefetchThreads(
                                                   static_cast<std::uint32_t>(state.range(0))))
          .value());
  std::uint64_t samples = 0, sum = 0, epoch = 0;
  for (auto _ : state) {
    if (!loader->Reset(epoch++).ok()) std::abort();
    for (const Sample& s : *loader) {
      for (std::size_t f = 0; f < s.view.num_fields(); ++f) {
        const FieldView v = s.view.field(f);
        sum += v.type() == FieldType::kTensor ? v.AsTensor().data[0] : 1;
      }
      ++samples;
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<std::int64_t>(samples));
  state.SetBytesProcessed(static_cast<std::int64_t>(loader->stats().bytes_decompressed));
}
BENCHMARK(BM_StreamingLoaderNext)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace shardmesh::loader

BENCHMARK_MAIN();
