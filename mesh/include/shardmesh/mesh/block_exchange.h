// BlockExchange: request/response for opaque, checksummed blobs between mesh nodes (issue 4,
// item 1). Each node runs one; it serves blobs from its BlobProvider and fetches blobs from
// other nodes that hold them.
//
// Server side: a kBlockRequest is decoded on the loop thread and the provider read runs on a
// small pool; the response (a small msgpack meta in the payload, the blob as the envelope's
// attachment, never copied) is sent from the loop thread.
// Client side: Fetch queues a request; requests are pipelined under a credit window per peer
// and overall; each try has a timeout, the whole fetch a deadline. On a timeout, an error
// answer, a send failure or a checksum mismatch the fetch moves to its next holder; when all
// have failed the future holds Unavailable naming the blob and every holder with its reason.
// A late answer to an abandoned try is ignored. Each future is fulfilled exactly once.
//
// Driving: the exchange never owns a thread that touches the transport. Either Attach() it to
// a MeshNode (handlers and timer ticks run on the node's loop), or call HandleEnvelope() and
// Pump() yourself from the one thread that owns the transport (tests, custom loops); the wake
// callback then tells you that Pump() has work.
//
// Thread-safety: Fetch, FetchMany, stats and the destructor are safe from any thread.
// HandleEnvelope and Pump must be called from the thread that owns the transport. Destroy the
// exchange only after the MeshNode it is attached to has stopped.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/clock.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/blob_provider.h"
#include "shardmesh/mesh/envelope.h"
#include "shardmesh/mesh/exchange_options.h"
#include "shardmesh/mesh/transport.h"

namespace shardmesh::mesh {

class MeshNode;

// Upper bounds (microseconds) of the fetch latency histogram buckets; the last bucket counts
// everything slower than the last bound.
inline constexpr std::array<std::uint64_t, 14> kFetchLatencyBoundsMicros = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};

struct ExchangeStats {
  // Client side.
  std::uint64_t fetches_started = 0;
  std::uint64_t fetches_succeeded = 0;
  std::uint64_t fetches_failed = 0;  // every holder failed, or the deadline passed
  std::uint64_t requests_sent = 0;   // tries put on the wire
  std::uint64_t retries = 0;         // tries after the first of a fetch
  std::uint64_t timeouts = 0;        // tries abandoned for a per-try timeout
  std::uint64_t checksum_mismatches = 0;
  std::uint64_t late_responses = 0;  // answers to abandoned or unknown tries, ignored
  std::uint64_t bytes_in = 0;        // verified blob bytes received
  // Successful fetches by latency (Fetch call to verified data), buckets as
  // kFetchLatencyBoundsMicros plus one overflow bucket.
  std::array<std::uint64_t, kFetchLatencyBoundsMicros.size() + 1> latency_buckets{};
  std::uint64_t latency_sum_micros = 0;
  // Server side.
  std::uint64_t requests_served = 0;   // answered with the blob
  std::uint64_t requests_refused = 0;  // answered with an error (not found, busy, read error)
  std::uint64_t bytes_out = 0;         // blob bytes sent
  // Both sides.
  std::uint64_t malformed_dropped = 0;  // undecodable requests/responses from peers
};

class BlockExchange {
 public:
  // `provider` may be null for a fetch-only node (every request is answered NotFound); it
  // must outlive the exchange. `wake` is called (from any thread, never under a lock of the
  // exchange) when Pump has work: a fetch that credit allows to send now, or finished provider
  // reads; Attach sets it. A fetch queued behind a full window needs no wake-up: the
  // HandleEnvelope or Pump that releases credit sends it. InvalidArgument naming the option on
  // bad options.
  static Result<std::unique_ptr<BlockExchange>> Create(ExchangeOptions options,
                                                       BlobProvider* provider,
                                                       const Clock& clock = SystemClock::Instance(),
                                                       std::function<void()> wake = nullptr);
  ~BlockExchange();  // fails pending fetches with Aborted, joins the server pool
  BlockExchange(const BlockExchange&) = delete;
  BlockExchange& operator=(const BlockExchange&) = delete;

  // Registers the exchange's message handlers on `node`, takes the node's name if
  // options.node_name was empty, and starts a ticker that wakes the loop every
  // tick_interval while fetches are pending. FailedPrecondition if already attached.
  Status Attach(MeshNode& node);

  // Fetches `name` from the first of `holder_endpoints` that answers with data matching its
  // checksum. The future holds the verified bytes (sharing the received message, no copy), or
  // Unavailable / DeadlineExceeded naming the blob and each holder tried with its reason,
  // InvalidArgument for an empty holder list, Aborted if the exchange is destroyed first.
  std::future<Result<SharedBytes>> Fetch(std::string name,
                                         std::vector<std::string> holder_endpoints);
  std::future<Result<SharedBytes>> Fetch(std::string name,
                                         std::vector<std::string> holder_endpoints,
                                         FetchOptions options);

  struct FetchRequest {
    std::string name;
    std::vector<std::string> holder_endpoints;
  };
  // Fetch for each request, queued under one lock and at most one wake-up; futures in request
  // order.
  std::vector<std::future<Result<SharedBytes>>> FetchMany(std::vector<FetchRequest> requests,
                                                          FetchOptions options);

  // Loop thread: handles a kBlockRequest or kBlockResponse (other types are ignored), then
  // runs Pump. Malformed messages are dropped with a rate-limited warning.
  void HandleEnvelope(const Envelope& envelope, Transport& transport);

  // Loop thread: sends finished provider reads, expires tries past their timeout, and sends
  // queued requests as credit allows.
  void Pump(Transport& transport);

  // Fetches not yet finished (queued or in flight).
  std::size_t pending_fetches() const;
  ExchangeStats stats() const;

 private:
  class Impl;
  explicit BlockExchange(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardmesh::mesh
