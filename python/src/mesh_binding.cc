// shardmesh._shardmesh._MeshJob: a mesh-mode data worker (loader::MeshJob) inside a Python
// process, configured with the same keys as `shardmesh worker` (TOML file, SHARDMESH_<KEY>
// environment variables, then keyword arguments, in increasing precedence).
//
// Every call that may wait (start, epoch start, reading, leaving) releases the GIL. Calls are
// serialised by a mutex taken after the GIL is released (never the other way round).
#include <pybind11/stl.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bindings.h"
#include "config_keys.h"
#include "conversion.h"
#include "errors.h"
#include "fork_guard.h"
#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/loader/dataset_catalog.h"
#include "shardmesh/loader/mesh_job.h"
#include "shardmesh/mesh/zmq_transport.h"
#include "worker_config.h"
#include "worker_data.h"
#include "worker_faults.h"

namespace shardmesh::python {
namespace py = pybind11;

namespace {

// The worker config from `config_path` (may be empty), the environment and `overrides`
// ({key: value}, values given as Python objects and passed on as text).
tools::WorkerConfig LoadConfig(const std::string& config_path, const py::dict& overrides) {
  tools::WorkerConfig config;
  tools::ConfigKeys keys;
  tools::BindWorkerKeys(keys, &config);
  ThrowIfError(keys.Apply(config_path));
  for (const auto& [key, value] : overrides) {
    const std::string name = py::str(key);
    std::string text;
    if (py::isinstance<py::bool_>(value)) {
      text = value.cast<bool>() ? "true" : "false";
    } else if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
      std::vector<std::string> items;
      for (const auto& item : value) items.push_back(py::str(item));
      ThrowIfError(keys.SetItems(name, items, "argument " + name, "a list"));
      continue;
    } else {
      text = py::str(value);
    }
    ThrowIfError(keys.Set(name, text, "argument " + name));
  }
  if (config.data_dir.empty()) {
    ThrowStatus(Status::InvalidArgument(
        "mesh mode needs data_dir (this worker's local shard store)" +
        (config_path.empty() ? std::string() : " in " + config_path + " or as an argument")));
  }
  Status valid = tools::ValidateWorkerConfig(config);
  if (!valid.ok()) {
    ThrowStatus(
        Status(valid.code(), (config_path.empty() ? "" : config_path + ": ") + valid.message()));
  }
  // The trainer commits after its steps; next_batch commits the earlier batches by itself
  // only when commit_every was asked for (file, environment or argument), not at the CLI
  // worker's default.
  if (keys.SourceOf("commit_every").empty()) config.commit_every = 0;
  return config;
}

// Ctrl-C during a blocking mesh call. The call runs in C++ with the GIL released, so Python's
// SIGINT handler only sets its flag and KeyboardInterrupt would wait for the call's own
// timeout (start_timeout, epoch_end_timeout). While such a call runs, this handler also sets
// the job's cancel flag, which ends the wait with Aborted, and chains to Python's handler;
// the caller then raises what PyErr_CheckSignals finds. Main thread only (Python's signal
// handling is the main thread's), one call at a time.
class SigintCancels {
 public:
  explicit SigintCancels(std::atomic<bool>* cancel) {
    if (PyGILState_Check() == 0 || !IsMainThread()) return;  // GIL held here: checked once
    struct sigaction current {};
    // A process that ignores SIGINT (started in the background) keeps ignoring it.
    if (sigaction(SIGINT, nullptr, &current) != 0 || current.sa_handler == SIG_IGN) return;
    flag_.store(cancel);
    struct sigaction sa {};
    sa.sa_handler = &SigintCancels::Handler;
    sigemptyset(&sa.sa_mask);
    installed_ = sigaction(SIGINT, &sa, &previous_) == 0;
    chains_ = installed_ && previous_.sa_handler != SIG_DFL && previous_.sa_handler != SIG_IGN &&
              previous_.sa_handler != nullptr;
  }
  ~SigintCancels() {
    if (!installed_) return;
    sigaction(SIGINT, &previous_, nullptr);
    flag_.store(nullptr);
  }
  // Whether a SIGINT also reaches Python's handler (so Python raises KeyboardInterrupt itself).
  bool chains() const { return chains_; }
  SigintCancels(const SigintCancels&) = delete;
  SigintCancels& operator=(const SigintCancels&) = delete;

 private:
  // With the GIL. The main thread's ident is looked up once, not per batch.
  static bool IsMainThread() {
    static const unsigned long main_ident =
        py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    return PyThread_get_thread_ident() == main_ident;
  }
  static void Handler(int sig) {
    if (std::atomic<bool>* f = flag_.load()) f->store(true);
    if (previous_.sa_handler != SIG_DFL && previous_.sa_handler != SIG_IGN &&
        previous_.sa_handler != nullptr) {
      previous_.sa_handler(sig);  // Python's: marks the signal for PyErr_CheckSignals
    }
  }
  static inline std::atomic<std::atomic<bool>*> flag_{nullptr};
  static inline struct sigaction previous_ {};
  bool installed_ = false;
  bool chains_ = false;
};

class PyMeshJob {
 public:
  PyMeshJob(const std::string& config_path, const py::dict& overrides)
      : config_(LoadConfig(config_path, overrides)) {
    spdlog::set_level(spdlog::level::from_str(config_.log_level));
    Result<std::unique_ptr<loader::MeshJob>> started = Status::Internal("not started");
    {
      py::gil_scoped_release release;
      auto zmq = mesh::ZmqTransport::Create(tools::ToTransportOptions(config_));
      if (!zmq.ok()) {
        started = Status(zmq.status().code(), "transport: " + zmq.status().message());
      } else {
        endpoint_ = (*zmq)->endpoint();
        mesh::FaultTransport* fault = nullptr;
        started = tools::StartJob(
            config_, tools::WithFaults(config_, std::move(zmq).value(), &fault), nullptr,
            &cancel_);
      }
    }
    job_ = ValueOrThrow(std::move(started));
    epoch_ = job_->first_epoch();
    schema_ = job_->store().catalog().schema();
    num_samples_ = job_->store().catalog().num_samples();
  }

  ~PyMeshJob() {
    // In a forked child the mesh threads do not exist: stopping them would hang.
    if (!fork_.InCreator()) {
      (void)job_.release();
      return;
    }
    py::gil_scoped_release release;
    std::lock_guard lock(mu_);
    job_.reset();  // without a leave announcement: peers see a crash unless leave() was called
  }

  bool WaitForPlacement(std::optional<double> timeout_s) {
    fork_.Check();
    Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      status = Alive();
      if (status.ok()) {
        status = job_->WaitForPlacement(
            static_cast<std::size_t>(config_.min_members),
            timeout_s ? Seconds(*timeout_s) : Duration(config_.placement_timeout));
      }
    }
    if (status.code() == StatusCode::kDeadlineExceeded) return false;
    ThrowIfError(status);
    return true;
  }

  void StartEpoch(std::uint64_t epoch) {
    fork_.Check();
    Status status;
    {
      SigintCancels interruptible(&cancel_);
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      status = Alive();
      if (status.ok()) status = job_->loader().StartEpoch(epoch);
      if (status.ok()) {
        epoch_ = epoch;
        started_ = true;
        pending_error_ = Status::OK();
      }
    }
    RaiseIfInterrupted(status);
    ThrowIfError(status);
  }

  // Up to `batch_size` samples of the current epoch, or None once this worker has nothing
  // left (every partition of the epoch done, its own and those it took over).
  py::object NextBatch(std::size_t batch_size, bool with_index) {
    fork_.Check();
    if (batch_size == 0) ThrowStatus(Status::InvalidArgument("batch_size must be at least 1"));
    if (with_index && schema_.FieldIndex("__index__")) {  // before a batch is taken
      ThrowStatus(Status::InvalidArgument(
          "return_index=True would replace the dataset's own field '__index__'"));
    }
    std::vector<loader::Sample> samples;
    Status status;
    bool python_sees_sigint = false;
    {
      SigintCancels interruptible(&cancel_);
      python_sees_sigint = interruptible.chains();
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      status = Alive();
      if (status.ok() && !started_) {
        status = Status::FailedPrecondition("start_epoch() has not been called");
      }
      if (status.ok() && !pending_error_.ok()) status = std::exchange(pending_error_, Status::OK());
      // commit_every: asking for the next batch means the trainer is done with the earlier
      // ones, so they (never the batch being built) are committed here.
      if (status.ok() && config_.commit_every > 0 &&
          since_commit_ >= static_cast<std::uint64_t>(config_.commit_every)) {
        job_->loader().Commit();
        since_commit_ = 0;
      }
      while (status.ok() && samples.size() < batch_size) {
        auto next = job_->loader().Next();
        if (!next.ok()) {
          status = next.status();
          break;
        }
        if (!next->has_value()) break;
        samples.push_back(std::move(**next));
      }
      // Samples taken before an error are delivered; the error comes with the next call.
      if (!status.ok() && !samples.empty()) pending_error_ = std::exchange(status, Status::OK());
      since_commit_ += samples.size();
    }
    if (!samples.empty()) {
      // A Ctrl-C that came while the batch was gathered stays pending and Python raises it
      // once the batch reached the caller, never instead of it: the batch counts as
      // delivered (commit_every counts it), so raising here would lose it. The wait it cut
      // short is not an error to report with the next call, unless Python never heard of the
      // signal (SIGINT was SIG_DFL): then the next call raises it.
      if (cancel_.exchange(false) && python_sees_sigint &&
          pending_error_.code() == StatusCode::kAborted) {
        pending_error_ = Status::OK();
      }
      return BatchToPython(schema_, samples, with_index);
    }
    RaiseIfInterrupted(status);
    ThrowIfError(status);
    return py::none();
  }

  void Commit() {
    fork_.Check();
    Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      status = Alive();
      if (status.ok()) job_->loader().Commit();
    }
    ThrowIfError(status);
  }

  void Leave(double drain_s) {
    fork_.Check();
    Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      if (!job_) return;
      status = job_->Leave(Seconds(drain_s));
      job_.reset();
    }
    ThrowIfError(status);
  }

  py::dict StateDict() {
    fork_.Check();
    checkpoint::StreamState state;
    Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      status = Alive();
      if (status.ok()) state = job_->loader().GetCheckpoint();
    }
    ThrowIfError(status);
    py::dict out;
    out["stream_state"] = py::bytes(checkpoint::EncodeStreamState(state));
    out["epoch"] = state.epoch;
    out["position"] = state.position;
    return out;
  }

  py::dict Stats() {
    fork_.Check();
    loader::MeshLoaderStats s;
    Status alive;
    {
      py::gil_scoped_release release;  // never wait for mu_ holding the GIL
      std::lock_guard lock(mu_);
      alive = Alive();
      if (alive.ok()) s = job_->loader().stats();
    }
    ThrowIfError(alive);  // raising needs the GIL
    py::dict out;
    out["samples_delivered"] = s.samples_delivered;
    out["local_samples"] = s.local_samples;
    out["remote_samples"] = s.remote_samples;
    out["local_bytes"] = s.local_bytes;
    out["remote_bytes"] = s.remote_bytes;
    out["blocks_healed"] = s.blocks_healed;
    out["read_retries"] = s.read_retries;
    out["partitions_owned"] = s.partitions_owned;
    out["partitions_taken_over"] = s.partitions_taken_over;
    out["partitions_handed_over"] = s.partitions_handed_over;
    out["partitions_received"] = s.partitions_received;
    out["epochs_rejoined"] = s.epochs_rejoined;
    out["commits"] = s.commits;
    out["checkpoints_persisted"] = s.checkpoints_persisted;
    out["epoch"] = s.epoch;
    out["epoch_remaining"] = s.epoch_remaining;
    return out;
  }

  std::uint64_t first_epoch() {
    return Read([this] { return job_->first_epoch(); });
  }
  std::string restored_from() {
    return Read([this] { return job_->restored_from(); });
  }
  // `get()` of the live job under mu_, waited for without the GIL (a thread blocked in
  // start_epoch or next_batch holds mu_ for long); raises like Job() when it is gone.
  template <typename F>
  std::invoke_result_t<F> Read(F get) {
    fork_.Check();
    Status alive;
    std::invoke_result_t<F> value{};
    {
      py::gil_scoped_release release;
      std::lock_guard lock(mu_);
      alive = Alive();
      if (alive.ok()) value = get();
    }
    ThrowIfError(alive);
    return value;
  }
  std::uint64_t num_samples() const { return num_samples_; }
  const std::string& name() const { return config_.name; }
  const std::string& endpoint() const { return endpoint_; }
  std::uint64_t epochs() const { return static_cast<std::uint64_t>(config_.epochs); }
  std::uint64_t epoch() const { return epoch_; }
  bool alive() const { return job_ != nullptr; }

 private:
  static Duration Seconds(double s) {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
  }
  // Called with mu_ held.
  // After a blocking call, with the GIL: a Ctrl-C that cancelled it raises KeyboardInterrupt
  // (the cancel flag is cleared, so the job stays usable).
  void RaiseIfInterrupted(const Status& status) {
    if (!cancel_.exchange(false)) return;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    (void)status;  // no Python signal pending: the Aborted status is raised as it is
  }

  Status Alive() const {
    return job_ ? Status::OK()
                : Status::FailedPrecondition("mesh worker " + config_.name + " has left the mesh");
  }
  // With the GIL held (throws).
  loader::MeshJob& Job() {
    ThrowIfError(Alive());
    return *job_;
  }

  ForkGuard fork_{"shardmesh.MeshLoader"};
  tools::WorkerConfig config_;
  std::string endpoint_;
  std::mutex mu_;
  std::unique_ptr<loader::MeshJob> job_;
  loader::Schema schema_;
  std::uint64_t num_samples_ = 0;
  std::uint64_t epoch_ = 0;
  bool started_ = false;
  std::atomic<bool> cancel_{false};  // set by SigintCancels: ends the job's waits
  std::uint64_t since_commit_ = 0;  // guarded by mu_: delivered since the last commit_every commit
  Status pending_error_;  // an error met after some samples of a batch: raised next
};

// A job's batches for a for loop, with __next__ in C++: the loop receives each batch with no
// Python bytecode between the read and the loop variable, so a Ctrl-C during the read is
// raised in the loop body, after the batch arrived, never in between (where it would be lost).
struct MeshBatches {
  py::object job;  // the PyMeshJob
  std::size_t batch_size;
  bool with_index;
};

}  // namespace

void RegisterMesh(py::module_& m) {
  py::class_<PyMeshJob>(m, "_MeshJob", "A mesh-mode data worker; use shardmesh.MeshLoader.")
      .def(py::init<const std::string&, const py::dict&>(), py::arg("config_path"),
           py::arg("overrides"))
      .def("wait_for_placement", &PyMeshJob::WaitForPlacement, py::arg("timeout_s") = py::none(),
           "Waits until this worker holds every shard it owns and min_members are live; False "
           "after timeout_s (None: the placement_timeout key; reading works anyway, from peers).")
      .def("start_epoch", &PyMeshJob::StartEpoch, py::arg("epoch"))
      .def("next_batch", &PyMeshJob::NextBatch, py::arg("batch_size"), py::arg("with_index"))
      .def(
          "_batches",
          [](py::object self, std::size_t batch_size, bool with_index) {
            return MeshBatches{std::move(self), batch_size, with_index};
          },
          py::arg("batch_size"), py::arg("with_index"))
      .def("commit", &PyMeshJob::Commit)
      .def("leave", &PyMeshJob::Leave, py::arg("drain_s"))
      .def("state_dict", &PyMeshJob::StateDict)
      .def("stats", &PyMeshJob::Stats)
      .def_property_readonly("first_epoch", &PyMeshJob::first_epoch)
      .def_property_readonly("restored_from", &PyMeshJob::restored_from)
      .def_property_readonly("num_samples", &PyMeshJob::num_samples)
      .def_property_readonly("name", &PyMeshJob::name)
      .def_property_readonly("endpoint", &PyMeshJob::endpoint)
      .def_property_readonly("epochs", &PyMeshJob::epochs)
      .def_property_readonly("epoch", &PyMeshJob::epoch)
      .def_property_readonly("alive", &PyMeshJob::alive);
  py::class_<MeshBatches>(m, "_MeshBatches", "A mesh worker's batches of the current epoch.")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", [](MeshBatches& b) {
        py::object batch = b.job.cast<PyMeshJob&>().NextBatch(b.batch_size, b.with_index);
        if (batch.is_none()) throw py::stop_iteration();
        return batch;
      });
}

}  // namespace shardmesh::python
