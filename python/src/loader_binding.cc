// shardmesh._shardmesh.Loader: the static-mode StreamingLoader, batched for Python.
//
// Every call that may decode, prefetch or wait releases the GIL. The C++ loader wants one
// consumer thread; Python code may call from several threads, so calls are serialised by a
// mutex taken after the GIL is released (never the other way round, which could deadlock).
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "conversion.h"
#include "errors.h"
#include "fork_guard.h"
#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/streaming_loader.h"

namespace shardmesh::python {
namespace py = pybind11;
using loader::Dataset;
using loader::StreamingLoader;

namespace {

struct LoaderOptions {
  std::uint32_t world_size = 1;
  std::uint32_t rank = 0;
  std::string strategy = "round-robin";
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
  std::size_t batch_size = 256;
  bool drop_last = false;
  bool drop_last_batch = false;
  std::uint32_t prefetch_threads = 1;
  std::uint32_t prefetch_blocks = 8;
  std::uint64_t prefetch_bytes = 512ull << 20;
  std::uint32_t partitions = 64;
  std::uint32_t shuffle_window_blocks = 1;
  bool return_index = false;
  std::vector<double> throughputs;          // adaptive: one per rank (empty: equal)
  std::vector<loader::SampleRange> ranges;  // range: one per rank
};

class PyLoader {
 public:
  PyLoader(std::shared_ptr<const Dataset> dataset, const LoaderOptions& o)
      : dataset_(std::move(dataset)),
        batch_size_(o.batch_size),
        drop_last_batch_(o.drop_last_batch),
        return_index_(o.return_index) {
    if (o.batch_size == 0) ThrowStatus(Status::InvalidArgument("batch_size must be at least 1"));
    if (o.return_index && dataset_->schema().FieldIndex("__index__")) {
      ThrowStatus(Status::InvalidArgument(
          "return_index=True would replace the dataset's own field '__index__'"));
    }
    loader::Strategy strategy = ValueOrThrow(loader::ParseStrategy(o.strategy));
    loader::StreamingConfig config(o.world_size, o.rank);
    config.WithStrategy(strategy)
        .WithSeed(o.seed)
        .WithEpoch(o.epoch)
        .WithDropPolicy(o.drop_last ? loader::DropPolicy::kDrop : loader::DropPolicy::kPad)
        .WithPrefetchThreads(o.prefetch_threads)
        .WithPrefetchBlocks(o.prefetch_blocks)
        .WithPrefetchBytes(o.prefetch_bytes)
        .WithPartitions(o.partitions)
        .WithShuffleWindowBlocks(o.shuffle_window_blocks);
    if (!o.throughputs.empty()) config.WithAdaptiveThroughputs(o.throughputs);
    if (!o.ranges.empty()) config.WithRanges(o.ranges);
    Result<std::unique_ptr<StreamingLoader>> loader = Status::Internal("not created");
    {
      py::gil_scoped_release release;
      loader = StreamingLoader::Create(dataset_, std::move(config));
    }
    loader_ = ValueOrThrow(std::move(loader));
  }

  ~PyLoader() {
    // In a forked child the prefetch threads do not exist: joining them would hang.
    if (!fork_.InCreator()) (void)loader_.release();
  }

  // The next batch, or None at the end of the epoch (or for a short last batch when
  // drop_last_batch).
  py::object NextBatch() {
    fork_.Check();
    Result<std::vector<loader::Sample>> batch = Status::Internal("not read");
    bool at_end = false;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      batch = loader_->NextBatch(batch_size_);
      at_end = loader_->position() == loader_->Len();
      restored_ = false;
    }
    std::vector<loader::Sample> samples = ValueOrThrow(std::move(batch));
    // A short batch is the epoch's last only at its end; one cut short by an error (raised by
    // the next call) is delivered even with drop_last_batch, since the loader counted it.
    if (samples.empty() || (drop_last_batch_ && samples.size() < batch_size_ && at_end)) {
      return py::none();
    }
    return BatchToPython(dataset_->schema(), samples, return_index_);
  }

  // Consumes the next batch without converting it; false at the end of the epoch. Lets
  // DataLoader workers pass over the batches other workers deliver.
  bool SkipBatch() {
    fork_.Check();
    Result<std::vector<loader::Sample>> batch = Status::Internal("not read");
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      batch = loader_->NextBatch(batch_size_);
      restored_ = false;
    }
    return !ValueOrThrow(std::move(batch)).empty();
  }

  py::object NextSample() {
    fork_.Check();
    Result<std::optional<loader::Sample>> next = Status::Internal("not read");
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      next = loader_->Next();
      restored_ = false;
    }
    std::optional<loader::Sample> sample = ValueOrThrow(std::move(next));
    if (!sample) return py::none();
    py::dict out = SampleToPython(sample->block, sample->view);
    if (return_index_) out["__index__"] = py::int_(sample->global_index());
    return out;
  }

  // Iteration continues the current epoch; once it is exhausted, a new iteration replays it
  // (as DataLoader + DistributedSampler do until set_epoch is called).
  void BeginIteration() {
    fork_.Check();
    Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      // An exhausted epoch is replayed, except right after a restore: a state saved at the
      // end of the epoch resumes there (nothing left), not at its start.
      if (!restored_ && loader_->Len() > 0 && loader_->position() >= loader_->Len()) {
        status = loader_->Reset(loader_->epoch());
      }
      restored_ = false;
    }
    ThrowIfError(status);
  }

  void SetEpoch(std::uint64_t epoch) {
    fork_.Check();
    Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      status = loader_->Reset(epoch);
      restored_ = false;
    }
    ThrowIfError(status);
  }

  std::size_t NumBatches() {
    fork_.Check();
    py::gil_scoped_release release;  // never wait for mu_ holding the GIL
    std::lock_guard lock(mu_);
    const std::uint64_t n = loader_->Len();
    // Not (n + batch_size - 1) / batch_size: that wraps for a batch_size near 2^64.
    return n / batch_size_ + (!drop_last_batch_ && n % batch_size_ != 0 ? 1 : 0);
  }
  std::uint64_t NumSamples() {
    fork_.Check();
    py::gil_scoped_release release;  // never wait for mu_ holding the GIL
    std::lock_guard lock(mu_);
    return loader_->Len();
  }
  std::uint64_t Position() {
    fork_.Check();
    py::gil_scoped_release release;  // never wait for mu_ holding the GIL
    std::lock_guard lock(mu_);
    return loader_->position();
  }
  std::uint64_t Epoch() {
    fork_.Check();
    py::gil_scoped_release release;  // never wait for mu_ holding the GIL
    std::lock_guard lock(mu_);
    return loader_->epoch();
  }

  py::dict StateDict() {
    fork_.Check();
    checkpoint::StreamState state;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      state = loader_->GetCheckpoint();
    }
    py::dict out;
    out["stream_state"] = py::bytes(checkpoint::EncodeStreamState(state));
    out["epoch"] = state.epoch;
    out["position"] = state.position;
    out["world_size"] = state.world_size;
    out["rank"] = state.rank;
    return out;
  }

  // Accepts what StateDict returned, or the encoded stream state bytes alone.
  void LoadStateDict(const py::object& state) {
    fork_.Check();
    py::object encoded = state;
    if (py::isinstance<py::dict>(state)) {
      py::dict d = state.cast<py::dict>();
      if (!d.contains("stream_state")) {
        ThrowStatus(Status::InvalidArgument("state dict has no 'stream_state' entry"));
      }
      encoded = d["stream_state"];
    }
    if (!py::isinstance<py::bytes>(encoded)) {
      ThrowStatus(Status::InvalidArgument("stream_state must be bytes"));
    }
    std::string bytes = encoded.cast<std::string>();
    checkpoint::StreamState decoded = ValueOrThrow(checkpoint::DecodeStreamState(AsBytes(bytes)));
    Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      status = loader_->RestoreFromCheckpoint(decoded);
      if (status.ok()) restored_ = true;
    }
    ThrowIfError(status);
  }

  py::dict Stats() {
    fork_.Check();
    loader::LoaderStats s;
    {
      py::gil_scoped_release release;  // never wait for mu_ holding the GIL
      std::lock_guard lock(mu_);
      s = loader_->stats();
    }
    py::dict out;
    out["samples_loaded"] = s.samples_loaded;
    out["local_samples"] = s.local_samples;
    out["remote_samples"] = s.remote_samples;
    out["prefetch_hits"] = s.prefetch_hits;
    out["prefetch_misses"] = s.prefetch_misses;
    out["average_load_time_s"] = std::chrono::duration<double>(s.average_load_time).count();
    out["average_block_decode_time_s"] =
        std::chrono::duration<double>(s.average_block_decode_time).count();
    out["bytes_read"] = s.bytes_read;
    out["bytes_decompressed"] = s.bytes_decompressed;
    out["blocks_decoded"] = s.blocks_decoded;
    out["checkpoints_taken"] = s.checkpoints_taken;
    out["peak_bytes_held"] = s.peak_bytes_held;
    out["plan_blocks"] = s.plan_blocks;
    out["ideal_blocks"] = s.ideal_blocks;
    out["decode_amplification"] = s.decode_amplification;
    out["received_samples"] = s.received_samples;
    out["padding_samples"] = s.padding_samples;
    return out;
  }

  std::shared_ptr<const Dataset> dataset() const { return dataset_; }
  std::size_t batch_size() const { return batch_size_; }

 private:
  ForkGuard fork_{"shardmesh.Loader"};
  std::shared_ptr<const Dataset> dataset_;
  std::size_t batch_size_;
  bool drop_last_batch_;
  bool return_index_;
  std::mutex mu_;
  bool restored_ = false;  // guarded by mu_: load_state_dict and no read or set_epoch since
  std::unique_ptr<StreamingLoader> loader_;
};

}  // namespace

void RegisterLoader(py::module_& m) {
  py::class_<PyLoader>(m, "_Loader", "The C++ streaming loader; use shardmesh.Loader.")
      .def(py::init([](py::object source, std::uint32_t world_size, std::uint32_t rank,
                       std::string strategy, std::uint64_t seed, std::uint64_t epoch,
                       std::size_t batch_size, bool drop_last, bool drop_last_batch,
                       std::uint32_t prefetch_threads, std::uint32_t prefetch_blocks,
                       std::uint64_t prefetch_bytes, std::uint32_t partitions,
                       std::uint32_t shuffle_window_blocks, bool return_index,
                       std::vector<double> throughputs,
                       std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges) {
             std::shared_ptr<const Dataset> dataset;
             if (py::isinstance<Dataset>(source)) {
               dataset = source.cast<std::shared_ptr<Dataset>>();
             } else {
               std::string path = FsPath(source);
               Result<std::shared_ptr<const Dataset>> opened = Status::Internal("not opened");
               {
                 py::gil_scoped_release release;
                 opened = Dataset::Open(path);
               }
               dataset = ValueOrThrow(std::move(opened));
             }
             LoaderOptions o;
             o.world_size = world_size;
             o.rank = rank;
             o.strategy = std::move(strategy);
             o.seed = seed;
             o.epoch = epoch;
             o.batch_size = batch_size;
             o.drop_last = drop_last;
             o.drop_last_batch = drop_last_batch;
             o.prefetch_threads = prefetch_threads;
             o.prefetch_blocks = prefetch_blocks;
             o.prefetch_bytes = prefetch_bytes;
             o.partitions = partitions;
             o.shuffle_window_blocks = shuffle_window_blocks;
             o.return_index = return_index;
             o.throughputs = std::move(throughputs);
             for (const auto& [begin, end] : ranges) o.ranges.push_back({begin, end});
             return std::make_unique<PyLoader>(std::move(dataset), o);
           }),
           py::arg("source"), py::arg("world_size"), py::arg("rank"), py::arg("strategy"),
           py::arg("seed"), py::arg("epoch"), py::arg("batch_size"), py::arg("drop_last"),
           py::arg("drop_last_batch"), py::arg("prefetch_threads"), py::arg("prefetch_blocks"),
           py::arg("prefetch_bytes"), py::arg("partitions"), py::arg("shuffle_window_blocks"),
           py::arg("return_index"), py::arg("throughputs"), py::arg("ranges"))
      .def("next_batch", &PyLoader::NextBatch,
           "The next batch as {field: array or list}, or None at the end of the epoch.")
      // In C++ so that a for loop receives each batch with no Python bytecode between the
      // read and the loop variable: a Ctrl-C that came during the read is raised in the loop
      // body, after the batch arrived, never in between (where the batch, already counted in
      // the stream's position, would be lost to a resume).
      .def("__next__",
           [](PyLoader& l) {
             py::object batch = l.NextBatch();
             if (batch.is_none()) throw py::stop_iteration();
             return batch;
           })
      .def("_skip_batch", &PyLoader::SkipBatch)
      .def("next_sample", &PyLoader::NextSample,
           "The next sample as {field: value} (tensors are zero-copy read-only views), or None "
           "at the end of the epoch.")
      .def("_begin_iteration", &PyLoader::BeginIteration)
      .def("set_epoch", &PyLoader::SetEpoch, py::arg("epoch"),
           "Starts epoch `epoch` from its beginning (new order, prefetch restarted).")
      .def("__len__", &PyLoader::NumBatches, "Batches of this rank in the current epoch.")
      .def_property_readonly("num_samples", &PyLoader::NumSamples,
                             "Samples of this rank in the current epoch.")
      .def_property_readonly("position", &PyLoader::Position,
                             "Samples of the current epoch already delivered.")
      .def_property_readonly("epoch", &PyLoader::Epoch, "The epoch being read.")
      .def_property_readonly("batch_size", &PyLoader::batch_size, "Samples per batch.")
      .def_property_readonly(
          "dataset",
          [](const PyLoader& l) { return std::const_pointer_cast<Dataset>(l.dataset()); },
          "The shardmesh.Dataset being read.")
      .def("state_dict", &PyLoader::StateDict,
           "The stream state: {'stream_state': bytes, 'epoch', 'position', 'world_size', "
           "'rank'}; picklable.")
      .def("load_state_dict", &PyLoader::LoadStateDict, py::arg("state"),
           "Continues from a state_dict() (or its 'stream_state' bytes) taken by a loader with "
           "the same dataset and settings. InvalidArgumentError on a mismatch, CorruptionError "
           "for damaged state bytes.")
      .def("stats", &PyLoader::Stats, "Loader counters since creation, as a dict.");
}

}  // namespace shardmesh::python
