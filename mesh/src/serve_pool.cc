#include "serve_pool.h"

#include "shardmesh/common/thread_name.h"

namespace shardmesh::mesh {

ServePool::ServePool(BlobProvider& provider, std::size_t threads, std::size_t max_pending,
                     std::function<void()> on_done)
    : provider_(provider), max_pending_(max_pending), on_done_(std::move(on_done)) {
  for (std::size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      SetCurrentThreadName("sm-serve");
      Run();
    });
}

ServePool::~ServePool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

bool ServePool::Submit(std::string reply_to, std::uint64_t request_id, std::string name) {
  {
    std::lock_guard lock(mu_);
    if (jobs_.size() + running_ >= max_pending_) return false;
    jobs_.push_back(Job{std::move(reply_to), request_id, std::move(name)});
  }
  cv_.notify_one();
  return true;
}

std::deque<ServePool::Done> ServePool::TakeDone() {
  std::deque<Done> done;
  std::lock_guard lock(mu_);
  done.swap(done_);
  return done;
}

void ServePool::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    ++running_;
    lock.unlock();
    Result<Blob> blob = provider_.Get(job.name);
    lock.lock();
    --running_;
    done_.push_back(Done{std::move(job.reply_to), job.request_id, std::move(blob)});
    lock.unlock();
    if (on_done_) on_done_();
    lock.lock();
  }
}

}  // namespace shardmesh::mesh
