// BroadcastQueue: gossip updates waiting to be piggybacked, after memberlist's
// TransmitLimitedQueue. Each update is keyed by the member it is about; queueing a newer
// update about the same member replaces the older one (it is obsolete). GetBroadcasts picks
// the least-transmitted, then newest updates that fit a byte budget and drops each after it has
// been sent `transmit_limit` times (memberlist: retransmit_mult * ceil(log10(n + 1))).
//
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace shardmesh::mesh {

class BroadcastQueue {
 public:
  // Queues the encoded update `bytes` about member `key`, replacing any queued one for `key`.
  void Queue(const std::string& key, std::string bytes);

  // Returns queued updates whose sizes plus `overhead_per_item` each sum to at most
  // `byte_limit`, in priority order; counts one transmission for each and drops those that
  // reached `transmit_limit`.
  std::vector<std::string> GetBroadcasts(std::size_t overhead_per_item, std::size_t byte_limit,
                                         std::uint32_t transmit_limit);

  // Drops the oldest, most-transmitted updates until at most `max_items` remain.
  void Prune(std::size_t max_items);

  std::size_t size() const { return items_.size(); }

  // GetBroadcasts stops looking once less than this is left of the budget (an encoded
  // update is never smaller), or after skipping kMaxSkipped items that did not fit.
  static constexpr std::size_t kMinItemBytes = 16;
  static constexpr std::size_t kMaxSkipped = 32;
  bool empty() const { return items_.empty(); }

 private:
  // Ordered by (transmits ascending, id descending): least sent first, newest first.
  struct Key {
    std::uint32_t transmits;
    std::uint64_t inverted_id;  // ~id, so larger ids sort first
    bool operator<(const Key& o) const {
      return transmits != o.transmits ? transmits < o.transmits : inverted_id < o.inverted_id;
    }
  };
  struct Item {
    std::string key;
    std::string bytes;
  };
  std::map<Key, Item> items_;
  std::unordered_map<std::string, Key> by_key_;
  std::uint64_t next_id_ = 1;
};

}  // namespace shardmesh::mesh
