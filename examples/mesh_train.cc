// A training loop that embeds the mesh-mode loader (issue 5): it joins a mesh (here a mesh of
// one, on 127.0.0.1), trains a tiny linear model on generated data, commits the stream after
// every optimizer step and saves the model every 20 steps with a BlobCheckpointer. Halfway
// through the epoch it is stopped without leaving the mesh (as a preempted job would be), then
// restarts from what is on disk: the model from its last blob checkpoint, the stream from its
// last persisted commit.
// At the end it checks that every sample of the epoch was delivered, and how many twice.
// Build: find_package(shardmesh) + target_link_libraries(app PRIVATE shardmesh::loader).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <vector>

#include "shardmesh/checkpoint/blob_checkpoint.h"
#include "shardmesh/loader/mesh_job.h"
#include "shardmesh/loader/synthetic.h"

using namespace shardmesh;
using namespace shardmesh::loader;

constexpr std::uint64_t kSamples = 20'000;
constexpr std::size_t kBatch = 32;
constexpr std::uint32_t kDim = 16;

struct Model {
  std::vector<float> w = std::vector<float>(kDim, 0.0f);
  std::uint64_t step = 0;
  std::string Serialize() const {
    std::string out(reinterpret_cast<const char*>(&step), sizeof step);
    out.append(reinterpret_cast<const char*>(w.data()), w.size() * sizeof(float));
    return out;
  }
  bool Parse(const std::string& bytes) {
    if (bytes.size() != sizeof step + kDim * sizeof(float)) return false;
    std::memcpy(&step, bytes.data(), sizeof step);
    std::memcpy(w.data(), bytes.data() + sizeof step, kDim * sizeof(float));
    return true;
  }
  // One SGD step of least squares from the features to (label == 0); returns the loss.
  double Step(const std::vector<Sample>& batch) {
    std::vector<float> grad(kDim, 0.0f), x(kDim);
    double loss = 0;
    for (const Sample& s : batch) {
      // Tensor bytes are not aligned to the element size: copy (or use At<float>(i)).
      std::memcpy(x.data(), s.view.field("features").AsTensor().data.data(), kDim * sizeof(float));
      const float y = s.view.field("label").AsInt64() == 0 ? 1.0f : 0.0f;
      float pred = 0;
      for (std::uint32_t i = 0; i < kDim; ++i) pred += w[i] * x[i];
      const float err = pred - y;
      loss += 0.5 * err * err;
      for (std::uint32_t i = 0; i < kDim; ++i) grad[i] += err * x[i];
    }
    for (std::uint32_t i = 0; i < kDim; ++i) w[i] -= 0.01f * grad[i] / batch.size();
    ++step;
    return loss / batch.size();
  }
};

// Trains until the epoch ends or `crash_after` steps; records every delivered sample.
Status Train(const std::string& root, std::uint64_t crash_after, std::vector<int>& seen) {
  MeshJobOptions options;
  options.data_dir = root + "/store";
  options.dataset = root + "/dataset";
  options.placement.replication = 1;
  options.loader.settle = std::chrono::milliseconds(100);
  mesh::MeshOptions mesh = mesh::MeshOptions::Local();
  mesh.name = "trainer-0";
  mesh.bind = "tcp://127.0.0.1:0";
  SHARDMESH_ASSIGN_OR_RETURN(auto job, MeshJob::Start(options, mesh, /*seeds=*/{}));
  SHARDMESH_ASSIGN_OR_RETURN(auto blobs, checkpoint::BlobCheckpointer::Create(root + "/model"));
  Model model;
  if (auto latest = blobs->LoadLatest(); latest.ok() && model.Parse(latest->second)) {
    std::printf("restart: model from step %llu, stream from %s\n",
                static_cast<unsigned long long>(model.step), job->restored_from().c_str());
  }
  MeshLoader& loader = job->loader();
  SHARDMESH_RETURN_IF_ERROR(loader.StartEpoch(job->first_epoch()));
  for (std::uint64_t steps = 0;; ++steps) {
    if (crash_after > 0 && steps == crash_after) {
      std::printf("stopped after %llu steps (model step %llu)\n",
                  static_cast<unsigned long long>(steps), static_cast<unsigned long long>(model.step));
      return Status::OK();  // the job is destroyed without Leave: peers would see a crash
    }
    std::vector<Sample> batch;
    while (batch.size() < kBatch) {
      SHARDMESH_ASSIGN_OR_RETURN(std::optional<Sample> s, loader.Next());
      if (!s) break;
      ++seen[s->global_index()];
      batch.push_back(std::move(*s));
    }
    if (batch.empty()) break;
    const double loss = model.Step(batch);
    loader.Commit();  // after the optimizer step: these samples are consumed
    if (model.step % 20 == 0) {
      (void)blobs->SaveAsync(model.Serialize(), model.step);  // trainer state, off the hot path
      if (model.step % 200 == 0) std::printf("step %llu loss %.4f\n",
                                             static_cast<unsigned long long>(model.step), loss);
    }
  }
  SHARDMESH_RETURN_IF_ERROR(blobs->Flush());
  std::printf("epoch done at model step %llu\n", static_cast<unsigned long long>(model.step));
  return job->Leave(std::chrono::milliseconds(50));
}

int main() {
  const std::string root =
      (std::filesystem::temp_directory_path() / ("shardmesh_mesh_train_" + std::to_string(::getpid())))
          .string();
  SyntheticOptions gen;
  gen.out_dir = root + "/dataset";
  gen.samples = kSamples;
  gen.shards = 4;
  gen.feature_dim = kDim;
  gen.seq_len = 4;
  gen.block_bytes = 16 * 1024;
  Status status = GenerateSyntheticDataset(gen);
  std::vector<int> seen(kSamples, 0);
  if (status.ok()) status = Train(root, /*crash_after=*/300, seen);
  if (status.ok()) status = Train(root, /*crash_after=*/0, seen);
  std::filesystem::remove_all(root);
  if (!status.ok()) {
    std::fprintf(stderr, "mesh_train: %s\n", status.ToString().c_str());
    return 1;
  }
  std::uint64_t lost = 0, twice = 0;
  for (int n : seen) {
    lost += n == 0;
    twice += n > 1;
  }
  std::printf("%llu samples: %llu lost, %llu delivered twice (after the last commit)\n",
              static_cast<unsigned long long>(kSamples), static_cast<unsigned long long>(lost),
              static_cast<unsigned long long>(twice));
  return lost == 0 ? 0 : 1;
}
