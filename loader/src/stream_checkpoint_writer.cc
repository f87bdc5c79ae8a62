#include "stream_checkpoint_writer.h"

#include <spdlog/spdlog.h>

#include "shardmesh/checkpoint/stream_checkpoint.h"
#include "shardmesh/common/thread_name.h"

namespace shardmesh::loader::internal {

Result<std::unique_ptr<StreamCheckpointWriter>> StreamCheckpointWriter::Open(const std::string& dir,
                                                                             std::uint32_t keep) {
  checkpoint::CheckpointStoreOptions options;
  options.keep_last = std::max<std::uint32_t>(1, keep);
  options.prefix = "stream";
  SHARDMESH_ASSIGN_OR_RETURN(auto store, checkpoint::CheckpointStore::Create(dir, options));
  std::unique_ptr<StreamCheckpointWriter> writer(new StreamCheckpointWriter(std::move(store)));
  // Continue the sequence of an earlier run, so the newest checkpoint keeps the highest number.
  if (auto files = writer->store_.List(); files.ok() && !files->empty()) {
    writer->sequence_ = files->back().sequence;
  }
  writer->thread_ = std::thread([w = writer.get()] {
    SetCurrentThreadName("sm-ckpt-write");
    w->Run();
  });
  return writer;
}

StreamCheckpointWriter::StreamCheckpointWriter(checkpoint::CheckpointStore store)
    : store_(std::move(store)) {}

StreamCheckpointWriter::~StreamCheckpointWriter() { Close(); }

void StreamCheckpointWriter::Submit(checkpoint::StreamState state) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    queued_ = std::move(state);
  }
  cv_.notify_one();
}

void StreamCheckpointWriter::Close(std::optional<checkpoint::StreamState> last) {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  // The thread wrote what was queued before it stopped.
  if (last) Write(*last);
}

void StreamCheckpointWriter::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || queued_.has_value(); });
    if (queued_) {
      checkpoint::StreamState state = std::move(*queued_);
      queued_.reset();
      lock.unlock();
      Write(state);
      lock.lock();
      continue;
    }
    if (stop_) return;
  }
}

void StreamCheckpointWriter::Write(const checkpoint::StreamState& state) {
  Status saved = checkpoint::SaveStreamState(store_, ++sequence_, state);
  if (saved.ok()) {
    ++persisted_;
  } else {
    ++failures_;
    spdlog::warn("stream checkpoint not saved: {}", saved.message());
  }
}

}  // namespace shardmesh::loader::internal
