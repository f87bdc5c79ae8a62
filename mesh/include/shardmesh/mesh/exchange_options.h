// Options of the block exchange (block_exchange.h): server pool, credit windows, timeouts.
//
// Thread-safety: plain value types.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "shardmesh/common/clock.h"

namespace shardmesh::mesh {

// Per-fetch timing. Both are measured on the exchange's injected Clock.
struct FetchOptions {
  // How long one holder gets to answer before the fetch moves to the next holder. Shorter
  // fails over faster from a stalled peer; too short retries blobs that were merely queued
  // behind a full window on a busy peer.
  Duration per_try_timeout = std::chrono::milliseconds(2000);
  // Upper bound for the whole fetch, queueing for credit included; when it passes, the future
  // holds DeadlineExceeded naming every holder tried. Zero means per_try_timeout times the
  // number of holders counted from the first try (each holder gets one full try, however
  // long the fetch waited for credit).
  Duration deadline = Duration::zero();
};

struct ExchangeOptions {
  // This node's name, put in the envelope header of every message it sends. Required unless
  // the exchange is attached to a MeshNode, which supplies its own name.
  std::string node_name;
  // Threads reading blobs from the provider for peers, so disk reads never block the loop.
  // 0 serves inline on the loop thread: fastest for in-memory providers (no hand-off), but a
  // slow provider then stalls membership traffic too.
  std::size_t server_threads = 2;
  // Provider reads queued or running at once; requests beyond it are answered
  // ResourceExhausted at once (the requester moves to another holder) instead of queueing
  // without bound behind a slow disk.
  std::size_t max_pending_serves = 256;
  // Requests in flight to one peer. Larger hides more round-trip latency at the cost of
  // memory on both sides (window x blob size) and longer queues behind a slow peer.
  std::size_t window_per_peer = 8;
  // Requests in flight to all peers together.
  std::size_t window_total = 64;
  // Defaults for Fetch calls that pass no FetchOptions.
  FetchOptions fetch;
  // When attached to a MeshNode: how often the exchange wakes the loop to check timeouts
  // while fetches are pending. Shorter detects timeouts closer to their deadline; each wake
  // is one task on the loop.
  Duration tick_interval = std::chrono::milliseconds(5);
  // Longest blob name accepted in a request (bytes); longer requests are malformed.
  std::size_t max_name_bytes = 1024;
};

}  // namespace shardmesh::mesh
