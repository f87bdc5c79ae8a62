// Embedding shardmesh's loader: generate a small dataset, stream rank 1 of 4, checkpoint in the
// middle of the epoch, and resume from that checkpoint in a fresh loader.
// Build: find_package(shardmesh) + target_link_libraries(app PRIVATE shardmesh::loader).
#include <cstdio>
#include <filesystem>

#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/streaming_loader.h"
#include "shardmesh/loader/synthetic.h"

using namespace shardmesh;
using namespace shardmesh::loader;

Status Run(const std::string& dir) {
  SyntheticOptions gen;
  gen.out_dir = dir;
  gen.samples = 10'000;
  gen.overwrite = true;
  SHARDMESH_RETURN_IF_ERROR(GenerateSyntheticDataset(gen));
  SHARDMESH_ASSIGN_OR_RETURN(auto dataset, Dataset::Open(dir));

  const auto config = StreamingConfig(/*world_size=*/4, /*rank=*/1).WithSeed(17);
  SHARDMESH_ASSIGN_OR_RETURN(auto loader, StreamingLoader::Create(dataset, config));
  double feature_sum = 0;
  for (int i = 0; i < 1000; ++i) {
    SHARDMESH_ASSIGN_OR_RETURN(std::optional<Sample> s, loader->Next());
    const TensorView features = s->view.field("features").AsTensor();  // zero-copy view
    feature_sum += features.At<float>(0);  // unaligned-safe (never cast data.data())
  }
  const checkpoint::StreamState state = loader->GetCheckpoint();

  // A new process would decode `state` from disk; here a second loader resumes from it.
  SHARDMESH_ASSIGN_OR_RETURN(auto resumed, StreamingLoader::Create(dataset, config));
  SHARDMESH_RETURN_IF_ERROR(resumed->RestoreFromCheckpoint(state));
  std::uint64_t rest = 0;
  for (const Sample& s : *resumed) rest += (s.global_index() < dataset->num_samples());
  SHARDMESH_RETURN_IF_ERROR(resumed->status());
  std::printf("rank 1/4: %llu samples in the epoch, 1000 before the checkpoint, %llu after "
              "(feature sum %.3f)\n",
              static_cast<unsigned long long>(loader->Len()),
              static_cast<unsigned long long>(rest), feature_sum);
  return Status::OK();
}

int main() {
  const std::string dir = (std::filesystem::temp_directory_path() / "shardmesh-example").string();
  const Status s = Run(dir);
  std::filesystem::remove_all(dir);
  if (!s.ok()) std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  return s.ok() ? 0 : 1;
}
