#include "broadcast_queue.h"

namespace shardmesh::mesh {

void BroadcastQueue::Queue(const std::string& key, std::string bytes) {
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    items_.erase(it->second);
    by_key_.erase(it);
  }
  const Key k{0, ~next_id_++};
  items_.emplace(k, Item{key, std::move(bytes)});
  by_key_.emplace(key, k);
}

std::vector<std::string> BroadcastQueue::GetBroadcasts(std::size_t overhead_per_item,
                                                       std::size_t byte_limit,
                                                       std::uint32_t transmit_limit) {
  std::vector<std::string> out;
  std::vector<std::map<Key, Item>::iterator> sent;
  std::size_t used = 0;
  std::size_t skipped = 0;
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    const std::size_t need = it->second.bytes.size() + overhead_per_item;
    // Skipping (rather than stopping at) an item that does not fit lets smaller ones behind
    // it use the rest of the budget, as memberlist does; but only a few, or a queue of
    // thousands (a mass join) is scanned in full for every message.
    if (used + need > byte_limit) {
      if (byte_limit - used < overhead_per_item + kMinItemBytes || ++skipped > kMaxSkipped) break;
      continue;
    }
    used += need;
    out.push_back(it->second.bytes);
    sent.push_back(it);
  }
  for (auto it : sent) {
    Key k = it->first;
    Item item = std::move(it->second);
    items_.erase(it);
    ++k.transmits;
    if (k.transmits >= transmit_limit) {
      by_key_.erase(item.key);
      continue;
    }
    by_key_[item.key] = k;
    items_.emplace(k, std::move(item));
  }
  return out;
}

void BroadcastQueue::Prune(std::size_t max_items) {
  while (items_.size() > max_items) {
    auto last = std::prev(items_.end());
    by_key_.erase(last->second.key);
    items_.erase(last);
  }
}

}  // namespace shardmesh::mesh
