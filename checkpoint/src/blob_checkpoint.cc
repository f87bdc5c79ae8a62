#include "shardmesh/checkpoint/blob_checkpoint.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "shardmesh/common/thread_name.h"

namespace shardmesh::checkpoint {
namespace {

struct PendingSave {
  SharedBytes bytes;
  std::uint64_t step = 0;
  std::promise<Status> done;
};

}  // namespace

struct BlobCheckpointer::Impl {
  Impl(CheckpointStore s, BlobCheckpointerOptions o) : store(std::move(s)), options(std::move(o)) {}

  void Run() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      work_ready.wait(lock, [this] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, and everything submitted is written
      PendingSave save = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      Status s = store.Write(save.step, save.bytes.view());
      if (s.ok() && options.on_saved) {
        try {
          options.on_saved(save.step, save.bytes);
        } catch (const std::exception& e) {
          // The local save is durable; a failing hook must not turn it into an error.
          spdlog::warn("blob checkpoint: on_saved hook for step {} threw: {}", save.step, e.what());
        } catch (...) {
          spdlog::warn("blob checkpoint: on_saved hook for step {} threw", save.step);
        }
      }
      if (!s.ok()) {
        spdlog::warn("blob checkpoint: save of step {} failed: {}", save.step, s.ToString());
      }
      save.bytes = SharedBytes();  // release the trainer's memory before waking anyone
      const bool saved = s.ok();
      lock.lock();
      if (!saved && first_error.ok()) first_error = s;
      --outstanding;  // a submitter may queue the next save while this one is pruned
      lock.unlock();
      slot_free.notify_all();
      save.done.set_value(std::move(s));
      // After the future is ready: deleting an old blob is housekeeping, not durability.
      if (saved) store.Prune();
      lock.lock();
      ++completed;
      slot_free.notify_all();
    }
  }

  CheckpointStore store;
  const BlobCheckpointerOptions options;
  std::mutex mu;
  std::condition_variable work_ready;  // queue gained an item, or stopping
  std::condition_variable slot_free;   // outstanding dropped or completed rose
  std::deque<PendingSave> queue;       // guarded by mu
  std::size_t outstanding = 0;         // queued + being written; guarded by mu
  // Saves finish (written and pruned) in submission order, so "all submitted before X are
  // done" is a count.
  std::uint64_t submitted = 0;  // guarded by mu
  std::uint64_t completed = 0;  // guarded by mu
  Status first_error;           // since the last Flush; guarded by mu
  bool stopping = false;        // guarded by mu
  std::thread writer;
};

Result<std::unique_ptr<BlobCheckpointer>> BlobCheckpointer::Create(
    std::string dir, BlobCheckpointerOptions options) {
  if (options.max_pending == 0) {
    return Status::InvalidArgument("blob checkpointer " + dir + ": max_pending must be >= 1");
  }
  CheckpointStoreOptions store_options;
  store_options.keep_last = options.keep_last;
  store_options.prefix = options.prefix;
  SHARDMESH_ASSIGN_OR_RETURN(CheckpointStore store,
                             CheckpointStore::Create(std::move(dir), store_options));
  auto impl = std::make_unique<Impl>(std::move(store), std::move(options));
  impl->writer = std::thread([p = impl.get()] {
    SetCurrentThreadName("sm-blob-write");
    p->Run();
  });
  return std::unique_ptr<BlobCheckpointer>(new BlobCheckpointer(std::move(impl)));
}

BlobCheckpointer::BlobCheckpointer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

BlobCheckpointer::~BlobCheckpointer() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->work_ready.notify_all();
  impl_->writer.join();
}

std::future<Status> BlobCheckpointer::SaveAsync(SharedBytes bytes, std::uint64_t step) {
  if (std::this_thread::get_id() == impl_->writer.get_id()) {
    // From on_saved: with max_pending saves queued it would wait for the thread it runs on.
    std::promise<Status> refused;
    refused.set_value(Status::FailedPrecondition(
        "blob checkpoint: SaveAsync from the on_saved hook (the writer thread) is not allowed"));
    return refused.get_future();
  }
  PendingSave save;
  save.bytes = std::move(bytes);
  save.step = step;
  std::future<Status> result = save.done.get_future();
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->slot_free.wait(lock, [this] { return impl_->outstanding < impl_->options.max_pending; });
    ++impl_->outstanding;
    ++impl_->submitted;
    impl_->queue.push_back(std::move(save));
  }
  impl_->work_ready.notify_one();
  return result;
}

std::future<Status> BlobCheckpointer::SaveAsync(std::string bytes, std::uint64_t step) {
  return SaveAsync(SharedBytes::FromString(std::move(bytes)), step);
}

Status BlobCheckpointer::Flush() {
  if (std::this_thread::get_id() == impl_->writer.get_id()) {
    // From on_saved: it would wait for the save whose hook is running.
    return Status::FailedPrecondition(
        "blob checkpoint: Flush from the on_saved hook (the writer thread) would wait for itself");
  }
  std::unique_lock<std::mutex> lock(impl_->mu);
  const std::uint64_t target = impl_->submitted;
  impl_->slot_free.wait(lock, [this, target] { return impl_->completed >= target; });
  return std::exchange(impl_->first_error, Status::OK());
}

Result<std::pair<std::uint64_t, std::string>> BlobCheckpointer::LoadLatest() const {
  SHARDMESH_ASSIGN_OR_RETURN(StoredCheckpoint c, impl_->store.LoadLatest());
  return std::make_pair(c.sequence, std::move(c.payload));
}

const CheckpointStore& BlobCheckpointer::store() const { return impl_->store; }

}  // namespace shardmesh::checkpoint
