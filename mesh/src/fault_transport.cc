#include "shardmesh/mesh/fault_transport.h"

#include <algorithm>
#include <utility>

namespace shardmesh::mesh {

FaultTransport::FaultTransport(std::unique_ptr<Transport> inner, FaultOptions options,
                               const Clock& clock, std::uint64_t seed)
    : inner_(std::move(inner)), clock_(clock), rng_(seed) {
  SetDropRate(options.drop_rate);
  SetDelay(options.delay);
  SetPartitionFrom(std::move(options.partition_from));
}

void FaultTransport::SetDropRate(double probability) {
  options_.drop_rate = std::clamp(probability, 0.0, 1.0);
}

void FaultTransport::SetDelay(Duration delay) {
  options_.delay = std::max(delay, Duration(0));
  // Held messages keep their due time; a shorter delay must not let later messages overtake
  // them out of FIFO order, so FlushDue stops at the first one not yet due.
}

void FaultTransport::SetPartitionFrom(std::vector<std::string> peers) {
  partition_set_ = std::unordered_set<std::string>(peers.begin(), peers.end());
  partitioned_endpoints_.clear();
  options_.partition_from = std::move(peers);
}

bool FaultTransport::Lose() {
  return options_.drop_rate > 0 && rng_.UniformDouble() < options_.drop_rate;
}

bool FaultTransport::IsPartitionedEndpoint(const std::string& endpoint) const {
  return partition_set_.contains(endpoint) || partitioned_endpoints_.contains(endpoint);
}

bool FaultTransport::IsPartitionedSender(const EnvelopeHeader& header) {
  if (partition_set_.contains(header.sender)) {
    if (!header.sender_endpoint.empty()) partitioned_endpoints_.insert(header.sender_endpoint);
    return true;
  }
  return partition_set_.contains(header.sender_endpoint);
}

void FaultTransport::FlushDue() {
  const TimePoint now = clock_.Now();
  while (!held_.empty() && held_.front().due <= now) {
    Held message = std::move(held_.front());
    held_.pop_front();
    // Partitions set while the message was held still apply, as on a real link.
    if (IsPartitionedEndpoint(message.to_endpoint)) {
      ++stats_.partitioned_outgoing;
      continue;
    }
    if (!inner_->Send(message.to_endpoint, message.envelope).ok()) {
      ++stats_.delayed_send_failures;
    }
  }
}

Status FaultTransport::Send(const std::string& to_endpoint, const Envelope& envelope) {
  FlushDue();
  if (IsPartitionedEndpoint(to_endpoint)) {
    ++stats_.partitioned_outgoing;
    return Status::OK();
  }
  if (Lose()) {
    ++stats_.dropped_outgoing;
    return Status::OK();
  }
  if (options_.delay > Duration(0)) {
    ++stats_.delayed;
    held_.push_back(Held{clock_.Now() + options_.delay, to_endpoint, envelope});
    return Status::OK();
  }
  return inner_->Send(to_endpoint, envelope);
}

std::optional<Envelope> FaultTransport::Receive(Duration timeout) {
  FlushDue();
  Duration wait = timeout;
  while (true) {
    std::optional<Envelope> envelope = inner_->Receive(wait);
    if (!envelope) return std::nullopt;
    // Only the first call may wait: the caller asked to wait at most `timeout` in total.
    wait = Duration(0);
    if (IsPartitionedSender(envelope->header)) {
      ++stats_.partitioned_incoming;
      continue;
    }
    if (Lose()) {
      ++stats_.dropped_incoming;
      continue;
    }
    return envelope;
  }
}

}  // namespace shardmesh::mesh
