// BlockExchange internals. Client state (fetches, queues, credit) sits under mu_; the server
// pool (serve_pool.h) hands finished reads back for the loop thread to send, because a
// Transport belongs to one thread.
#include "shardmesh/mesh/block_exchange.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "exchange_codec.h"
#include "rate_limited_log.h"
#include "serve_pool.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/common/thread_name.h"
#include "shardmesh/mesh/mesh_node.h"

namespace shardmesh::mesh {
namespace {

std::string Millis(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

}  // namespace

class BlockExchange::Impl {
 public:
  Impl(ExchangeOptions options, BlobProvider* provider, const Clock& clock,
       std::function<void()> wake)
      : options_(std::move(options)),
        provider_(provider),
        clock_(clock),
        wake_(std::move(wake)),
        log_(clock, std::chrono::seconds(1)) {}

  ~Impl() {
    {
      std::lock_guard lock(ticker_mu_);
      stopping_ = true;
    }
    ticker_cv_.notify_all();
    if (ticker_.joinable()) ticker_.join();
    pool_.reset();
    std::lock_guard lock(mu_);
    for (auto& [id, fetch] : fetches_) {
      fetch->promise.set_value(
          Status::Aborted("blob " + fetch->name + ": the block exchange was shut down"));
    }
  }

  void StartPool() {
    if (options_.server_threads == 0 || provider_ == nullptr) return;
    pool_ = std::make_unique<ServePool>(*provider_, options_.server_threads,
                                        options_.max_pending_serves, [this] { Wake(); });
  }

  Status Attach(MeshNode& node) {
    if (attached_) return Status::FailedPrecondition("block exchange is already attached");
    attached_ = true;
    if (options_.node_name.empty()) options_.node_name = node.name();
    wake_ = [this, &node] {
      if (wake_pending_.exchange(true)) return;
      node.Post([this](Transport& transport) { Pump(transport); });
    };
    auto handler = [this](const Envelope& envelope, Transport& transport) {
      HandleEnvelope(envelope, transport);
    };
    node.SetMessageHandler(MessageType::kBlockRequest, handler);
    node.SetMessageHandler(MessageType::kBlockResponse, handler);
    // Real time on purpose: the ticker paces a real loop thread.
    ticker_ = std::thread([this] {
      SetCurrentThreadName("sm-exch-tick");
      std::unique_lock lock(ticker_mu_);
      while (!stopping_) {
        ticker_cv_.wait_for(lock, options_.tick_interval);
        if (!stopping_ && pending_fetches() > 0) Wake();
      }
    });
    return Status::OK();
  }

  std::future<Result<SharedBytes>> Fetch(std::string name, std::vector<std::string> holders,
                                         const FetchOptions& options) {
    std::future<Result<SharedBytes>> future;
    bool sendable = false;
    {
      std::lock_guard lock(mu_);
      future = Enqueue(std::move(name), std::move(holders), options, sendable);
    }
    if (sendable) Wake();
    return future;
  }

  std::vector<std::future<Result<SharedBytes>>> FetchMany(std::vector<FetchRequest> requests,
                                                          const FetchOptions& options) {
    std::vector<std::future<Result<SharedBytes>>> futures;
    futures.reserve(requests.size());
    bool sendable = false;
    {
      std::lock_guard lock(mu_);
      for (FetchRequest& r : requests) {
        futures.push_back(
            Enqueue(std::move(r.name), std::move(r.holder_endpoints), options, sendable));
      }
    }
    if (sendable) Wake();
    return futures;
  }

  void HandleEnvelope(const Envelope& envelope, Transport& transport) {
    if (envelope.header.type == MessageType::kBlockRequest) {
      HandleRequest(envelope, transport);
    } else if (envelope.header.type == MessageType::kBlockResponse) {
      HandleResponse(envelope);
    }
    Pump(transport);
  }

  void Pump(Transport& transport) {
    wake_pending_.store(false);
    SendCompletedServes(transport);
    std::lock_guard lock(mu_);
    const TimePoint now = clock_.Now();
    ExpireTries(now);
    if (now >= next_deadline_sweep_) {
      next_deadline_sweep_ = now + options_.tick_interval;
      ExpireDeadlines(now);
    }
    SendQueued(transport, now);
  }

  const FetchOptions& default_fetch() const { return options_.fetch; }

  std::size_t pending_fetches() const {
    std::lock_guard lock(mu_);
    return fetches_.size();
  }

  ExchangeStats stats() const {
    std::lock_guard lock(stats_mu_);
    return stats_;
  }

 private:
  struct FetchState {
    std::uint64_t id = 0;
    std::string name;
    std::vector<std::string> holders;
    std::size_t next_holder = 0;          // index of the holder the next try goes to
    std::uint64_t request_id = 0;         // of the try in flight; 0 when queued
    const std::string* holder = nullptr;  // of the try in flight
    TimePoint started;
    TimePoint deadline;
    TimePoint try_deadline;
    Duration per_try_timeout{};
    bool retried = false;
    bool try_cut_by_deadline = false;  // the try in flight ends at the deadline, not its timeout
    std::vector<std::string> reasons;  // "tcp://a (timeout after 500 ms)"
    std::promise<Result<SharedBytes>> promise;
  };

  void Wake() {
    if (wake_) wake_();
  }

  template <typename Fn>
  void UpdateStats(Fn fn) {
    std::lock_guard lock(stats_mu_);
    fn(stats_);
  }

  // mu_ held. Queues a fetch for its first holder and sets `sendable` if the credit to send
  // it now is free. When it is not, no wake-up is needed: credit is only released on the loop
  // (an answer, a timeout), and the Pump that follows sends what waits for it. This keeps a
  // client that keeps its queue full from waking the loop once per fetch.
  std::future<Result<SharedBytes>> Enqueue(std::string name, std::vector<std::string> holders,
                                           const FetchOptions& options, bool& sendable) {
    auto fetch = std::make_unique<FetchState>();
    std::future<Result<SharedBytes>> future = fetch->promise.get_future();
    UpdateStats([](ExchangeStats& s) { ++s.fetches_started; });
    if (holders.empty()) {
      UpdateStats([](ExchangeStats& s) { ++s.fetches_failed; });
      fetch->promise.set_value(Status::InvalidArgument("blob " + name + ": no holders given"));
      return future;
    }
    fetch->id = next_fetch_id_++;
    fetch->name = std::move(name);
    fetch->holders = std::move(holders);
    fetch->started = clock_.Now();
    fetch->per_try_timeout = options.per_try_timeout;
    // Without an explicit deadline the clock starts at the first try (SendTry), so a long
    // queue behind the credit window does not eat the holders' time.
    fetch->deadline =
        options.deadline > Duration::zero() ? fetch->started + options.deadline : TimePoint::max();
    if (total_inflight_ < options_.window_total) {
      auto credit = peer_inflight_.find(fetch->holders[0]);
      sendable =
          sendable || credit == peer_inflight_.end() || credit->second < options_.window_per_peer;
    }
    peer_queue_[fetch->holders[0]].push_back(fetch->id);
    fetches_.emplace(fetch->id, std::move(fetch));
    return future;
  }

  void HandleRequest(const Envelope& envelope, Transport& transport) {
    Result<BlockRequestMsg> request = DecodeBlockRequest(envelope.payload.view());
    if (!request.ok()) {
      Malformed("request",
                "from " + envelope.header.sender_endpoint + ": " + request.status().message());
      return;
    }
    const std::string& reply_to = envelope.header.sender_endpoint;
    if (request->name.size() > options_.max_name_bytes) {
      SendResponse(transport, reply_to, request->request_id,
                   Status::InvalidArgument("blob name of " + std::to_string(request->name.size()) +
                                           " bytes exceeds the limit"));
      return;
    }
    if (provider_ == nullptr) {
      SendResponse(transport, reply_to, request->request_id,
                   Status::NotFound("node " + options_.node_name + " serves no blobs"));
      return;
    }
    if (pool_ == nullptr) {
      SendResponse(transport, reply_to, request->request_id, provider_->Get(request->name));
      return;
    }
    if (pool_->Submit(reply_to, request->request_id, std::move(request->name))) return;
    SendResponse(
        transport, reply_to, request->request_id,
        Status::ResourceExhausted("node " + options_.node_name + " has " +
                                  std::to_string(options_.max_pending_serves) + " reads pending"));
  }

  void SendCompletedServes(Transport& transport) {
    if (pool_ == nullptr) return;
    for (ServePool::Done& d : pool_->TakeDone()) {
      SendResponse(transport, d.reply_to, d.request_id, d.blob);
    }
  }

  void SendResponse(Transport& transport, const std::string& reply_to, std::uint64_t request_id,
                    const Result<Blob>& blob) {
    BlockResponseMsg meta;
    meta.request_id = request_id;
    Envelope envelope;
    envelope.header.type = MessageType::kBlockResponse;
    envelope.header.sender = options_.node_name;
    envelope.header.sender_endpoint = transport.endpoint();
    if (blob.ok()) {
      meta.checksum = blob->checksum;
      meta.size = blob->data.size();
      envelope.attachment = blob->data;
    } else {
      meta.code = blob.status().code();
      meta.message = blob.status().message().substr(0, kMaxExchangeMessageBytes / 2);
    }
    envelope.payload = SharedBytes::FromString(EncodeBlockResponse(meta));
    Status sent = transport.Send(reply_to, envelope);
    if (!sent.ok()) {
      // The requester times out and moves on; nothing to retry from here.
      log_.Warn("send-response",
                "block exchange: cannot answer " + reply_to + ": " + sent.message());
      return;
    }
    UpdateStats([&](ExchangeStats& s) {
      if (blob.ok()) {
        ++s.requests_served;
        s.bytes_out += blob->data.size();
      } else {
        ++s.requests_refused;
      }
    });
  }

  void HandleResponse(const Envelope& envelope) {
    Result<BlockResponseMsg> meta = DecodeBlockResponse(envelope.payload.view());
    if (!meta.ok()) {
      Malformed("response",
                "from " + envelope.header.sender_endpoint + ": " + meta.status().message());
      return;
    }
    // Hash outside the lock: a MiB takes tens of microseconds.
    const bool intact =
        meta->code == StatusCode::kOk && envelope.attachment.size() == meta->size &&
        Hash64(envelope.attachment.data(), envelope.attachment.size()) == meta->checksum;
    std::lock_guard lock(mu_);
    auto it = inflight_.find(meta->request_id);
    if (it == inflight_.end()) {
      UpdateStats([](ExchangeStats& s) { ++s.late_responses; });
      return;
    }
    // The sender endpoint is not compared with the holder asked: holders may be listed under
    // another spelling of the same address (localhost vs 127.0.0.1), and the checksum, not
    // the sender, is what vouches for the data.
    FetchState& fetch = *fetches_.at(it->second);
    EndTry(fetch);
    if (meta->code != StatusCode::kOk) {
      std::string reason(StatusCodeName(meta->code));
      if (!meta->message.empty()) reason += ": " + meta->message;
      TryNext(fetch, std::move(reason));
      return;
    }
    if (!intact) {
      UpdateStats([](ExchangeStats& s) { ++s.checksum_mismatches; });
      TryNext(fetch, "checksum mismatch: got " + std::to_string(envelope.attachment.size()) +
                         " bytes, expected " + std::to_string(meta->size));
      return;
    }
    const auto micros = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.Now() - fetch.started)
            .count());
    UpdateStats([&](ExchangeStats& s) {
      ++s.fetches_succeeded;
      s.bytes_in += envelope.attachment.size();
      s.latency_sum_micros += micros;
      const auto bucket = std::lower_bound(kFetchLatencyBoundsMicros.begin(),
                                           kFetchLatencyBoundsMicros.end(), micros) -
                          kFetchLatencyBoundsMicros.begin();
      ++s.latency_buckets[static_cast<std::size_t>(bucket)];
    });
    fetch.promise.set_value(envelope.attachment);
    fetches_.erase(fetch.id);
  }

  // mu_ held. Releases the credit of `fetch`'s try in flight.
  void EndTry(FetchState& fetch) {
    inflight_.erase(fetch.request_id);
    try_deadlines_.erase({fetch.try_deadline, fetch.request_id});
    auto credit = peer_inflight_.find(*fetch.holder);
    if (--credit->second == 0) peer_inflight_.erase(credit);
    --total_inflight_;
    fetch.request_id = 0;
    fetch.holder = nullptr;
  }

  // mu_ held. Records why the last holder failed and queues the fetch for its next holder, or
  // fails it when none is left. May destroy `fetch`.
  void TryNext(FetchState& fetch, std::string reason) {
    fetch.reasons.push_back(fetch.holders[fetch.next_holder - 1] + " (" + reason + ")");
    if (fetch.next_holder < fetch.holders.size()) {
      // To the front: a retry has waited longest.
      peer_queue_[fetch.holders[fetch.next_holder]].push_front(fetch.id);
      return;
    }
    Fail(fetch, Status::Unavailable("blob " + fetch.name + ": tried " + JoinReasons(fetch)));
  }

  static std::string JoinReasons(const FetchState& fetch) {
    std::string out;
    for (const std::string& r : fetch.reasons) {
      if (!out.empty()) out += ", ";
      out += r;
    }
    return out.empty() ? "no holder yet" : out;
  }

  // mu_ held. Fulfils and destroys `fetch`; it must not be in flight or queued.
  void Fail(FetchState& fetch, Status status) {
    UpdateStats([](ExchangeStats& s) { ++s.fetches_failed; });
    fetch.promise.set_value(std::move(status));
    fetches_.erase(fetch.id);
  }

  // mu_ held.
  void ExpireTries(TimePoint now) {
    std::vector<std::uint64_t> expired;
    // Ordered by deadline: the common case (nothing due) costs one comparison, not a scan of
    // every try in flight.
    for (auto it = try_deadlines_.begin(); it != try_deadlines_.end() && it->first <= now; ++it) {
      expired.push_back(inflight_.at(it->second));
    }
    // Fetch ids give the order of the Fetch calls: sort so a run is reproducible.
    std::sort(expired.begin(), expired.end());
    for (std::uint64_t id : expired) {
      FetchState& fetch = *fetches_.at(id);
      EndTry(fetch);
      UpdateStats([](ExchangeStats& s) { ++s.timeouts; });
      // Past the deadline with holders left untried: DeadlineExceeded. With none left the
      // answer is Unavailable, as when the last holder refuses, even if the deadline passed
      // at the same moment (the default deadline ends with the last try).
      if (fetch.try_cut_by_deadline ||
          (fetch.deadline <= now && fetch.next_holder < fetch.holders.size())) {
        fetch.reasons.push_back(fetch.holders[fetch.next_holder - 1] + " (timeout after " +
                                Millis(fetch.per_try_timeout) + ")");
        Fail(fetch, Status::DeadlineExceeded("blob " + fetch.name + ": deadline of " +
                                             Millis(fetch.deadline - fetch.started) +
                                             " passed; tried " + JoinReasons(fetch)));
        continue;
      }
      TryNext(fetch, "timeout after " + Millis(fetch.per_try_timeout));
    }
  }

  // mu_ held. Fails queued fetches whose deadline passed while waiting for credit.
  void ExpireDeadlines(TimePoint now) {
    for (auto& [peer, queue] : peer_queue_) {
      for (auto it = queue.begin(); it != queue.end();) {
        FetchState& fetch = *fetches_.at(*it);
        if (fetch.deadline > now) {
          ++it;
          continue;
        }
        it = queue.erase(it);
        Fail(fetch, Status::DeadlineExceeded("blob " + fetch.name + ": deadline of " +
                                             Millis(fetch.deadline - fetch.started) +
                                             " passed while queued for " + peer + "; tried " +
                                             JoinReasons(fetch)));
      }
    }
  }

  // mu_ held. Sends queued tries, round robin over peers, while credit lasts.
  void SendQueued(Transport& transport, TimePoint now) {
    bool progress = true;
    while (progress && total_inflight_ < options_.window_total) {
      progress = false;
      for (auto it = peer_queue_.begin();
           it != peer_queue_.end() && total_inflight_ < options_.window_total;) {
        const std::string& peer = it->first;
        std::deque<std::uint64_t>& queue = it->second;
        auto credit = peer_inflight_.find(peer);
        const std::size_t used = credit == peer_inflight_.end() ? 0 : credit->second;
        if (!queue.empty() && used < options_.window_per_peer) {
          const std::uint64_t id = queue.front();
          queue.pop_front();
          SendTry(transport, *fetches_.at(id), now);
          progress = true;
        }
        it = queue.empty() ? peer_queue_.erase(it) : std::next(it);
      }
    }
  }

  // mu_ held. Puts `fetch`'s next try on the wire. May destroy `fetch` (send failed and no
  // holder left).
  void SendTry(Transport& transport, FetchState& fetch, TimePoint now) {
    const std::string& holder = fetch.holders[fetch.next_holder++];
    BlockRequestMsg request{next_request_id_++, fetch.name};
    Envelope envelope;
    envelope.header.type = MessageType::kBlockRequest;
    envelope.header.sender = options_.node_name;
    envelope.header.sender_endpoint = transport.endpoint();
    envelope.payload = SharedBytes::FromString(EncodeBlockRequest(request));
    Status sent = transport.Send(holder, envelope);
    UpdateStats([&](ExchangeStats& s) {
      if (fetch.retried) ++s.retries;
      if (sent.ok()) ++s.requests_sent;
    });
    if (!fetch.retried && fetch.deadline == TimePoint::max()) {
      fetch.deadline =
          now + fetch.per_try_timeout * static_cast<std::int64_t>(fetch.holders.size());
    }
    fetch.retried = true;
    if (!sent.ok()) {
      TryNext(fetch, "send failed: " + sent.message());
      return;
    }
    fetch.request_id = request.request_id;
    fetch.holder = &holder;
    fetch.try_cut_by_deadline = now + fetch.per_try_timeout > fetch.deadline;
    fetch.try_deadline = std::min(now + fetch.per_try_timeout, fetch.deadline);
    inflight_.emplace(request.request_id, fetch.id);
    try_deadlines_.emplace(fetch.try_deadline, request.request_id);
    ++peer_inflight_[holder];
    ++total_inflight_;
  }

  void Malformed(std::string_view kind, const std::string& what) {
    UpdateStats([](ExchangeStats& s) { ++s.malformed_dropped; });
    std::lock_guard lock(log_mu_);
    log_.Warn(kind, "block exchange dropped a malformed " + std::string(kind) + " " + what);
  }

  ExchangeOptions options_;
  BlobProvider* provider_;
  const Clock& clock_;
  std::function<void()> wake_;
  std::atomic<bool> wake_pending_{false};
  bool attached_ = false;

  std::mutex log_mu_;
  RateLimitedLog log_;

  mutable std::mutex mu_;  // client state below
  std::map<std::uint64_t, std::unique_ptr<FetchState>> fetches_;
  std::map<std::string, std::deque<std::uint64_t>> peer_queue_;  // fetch ids waiting for credit
  std::unordered_map<std::uint64_t, std::uint64_t> inflight_;    // request id -> fetch id
  std::set<std::pair<TimePoint, std::uint64_t>> try_deadlines_;  // of inflight_: (due, request id)
  std::unordered_map<std::string, std::size_t> peer_inflight_;
  std::size_t total_inflight_ = 0;
  std::uint64_t next_fetch_id_ = 1;
  std::uint64_t next_request_id_ = 1;
  TimePoint next_deadline_sweep_{};

  mutable std::mutex stats_mu_;
  ExchangeStats stats_;

  std::unique_ptr<ServePool> pool_;  // null when reads are served inline

  std::mutex ticker_mu_;
  std::condition_variable ticker_cv_;
  bool stopping_ = false;
  std::thread ticker_;
};

Result<std::unique_ptr<BlockExchange>> BlockExchange::Create(ExchangeOptions options,
                                                             BlobProvider* provider,
                                                             const Clock& clock,
                                                             std::function<void()> wake) {
  if (options.window_per_peer == 0) {
    return Status::InvalidArgument("option 'window_per_peer' must be positive");
  }
  if (options.window_total == 0) {
    return Status::InvalidArgument("option 'window_total' must be positive");
  }
  if (options.fetch.per_try_timeout <= Duration::zero()) {
    return Status::InvalidArgument("option 'fetch.per_try_timeout' must be positive");
  }
  if (options.tick_interval <= Duration::zero()) {
    return Status::InvalidArgument("option 'tick_interval' must be positive");
  }
  if (options.server_threads > 0 && options.max_pending_serves == 0) {
    return Status::InvalidArgument("option 'max_pending_serves' must be positive");
  }
  auto impl = std::make_unique<Impl>(std::move(options), provider, clock, std::move(wake));
  impl->StartPool();
  return std::unique_ptr<BlockExchange>(new BlockExchange(std::move(impl)));
}

BlockExchange::BlockExchange(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlockExchange::~BlockExchange() = default;

Status BlockExchange::Attach(MeshNode& node) { return impl_->Attach(node); }

std::future<Result<SharedBytes>> BlockExchange::Fetch(std::string name,
                                                      std::vector<std::string> holder_endpoints) {
  return impl_->Fetch(std::move(name), std::move(holder_endpoints), impl_->default_fetch());
}

std::future<Result<SharedBytes>> BlockExchange::Fetch(std::string name,
                                                      std::vector<std::string> holder_endpoints,
                                                      FetchOptions options) {
  return impl_->Fetch(std::move(name), std::move(holder_endpoints), options);
}

std::vector<std::future<Result<SharedBytes>>> BlockExchange::FetchMany(
    std::vector<FetchRequest> requests, FetchOptions options) {
  return impl_->FetchMany(std::move(requests), options);
}

void BlockExchange::HandleEnvelope(const Envelope& envelope, Transport& transport) {
  impl_->HandleEnvelope(envelope, transport);
}
void BlockExchange::Pump(Transport& transport) { impl_->Pump(transport); }
std::size_t BlockExchange::pending_fetches() const { return impl_->pending_fetches(); }
ExchangeStats BlockExchange::stats() const { return impl_->stats(); }

}  // namespace shardmesh::mesh
