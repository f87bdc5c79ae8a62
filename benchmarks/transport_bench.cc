// Transport throughput over tcp://127.0.0.1: raw cppzmq DEALER->ROUTER (the baseline: one
// payload frame, no envelope, the payload copied into the message as plain cppzmq code does),
// the same with a zero-copy message (what ZmqTransport does for payloads >= 8 KiB, so the
// envelope's own cost shows), and ZmqTransport (header frame + payload frame, lazy DEALER),
// for 64 KiB and 1 MiB payloads in the same run. Each sends a batch of messages, then receives
// the batch, in one thread, so the numbers compare per-message costs rather than scheduling.
// Sender and receiver always have separate zmq contexts (one I/O thread each), as two mesh
// processes would; one shared context (one I/O thread serving both ends) is a topology no mesh
// has, and measured noticeably faster on a loaded 2-core machine.
#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>
#include <zmq.hpp>

#include "shardmesh/common/random.h"
#include "shardmesh/mesh/sim_network.h"
#include "shardmesh/mesh/zmq_transport.h"

namespace {

constexpr int kBatch = 16;

// Plain cppzmq DEALER -> ROUTER on tcp 127.0.0.1, separate contexts as two processes would
// have: the baseline ZmqTransport is measured against. `zero_copy` sends messages that borrow
// the payload buffer instead of copying it into each message.
void RawZmq(benchmark::State& state, bool zero_copy) {
  const auto size = static_cast<std::size_t>(state.range(0));
  zmq::context_t ctx(1);
  zmq::context_t sender_ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  zmq::socket_t dealer(sender_ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(router.get(zmq::sockopt::last_endpoint));
  std::vector<std::uint8_t> payload(size, 0x5a);
  // The buffer outlives every message, so the free callback has nothing to do.
  auto no_free = [](void*, void*) {};
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      if (zero_copy) {
        zmq::message_t message(payload.data(), payload.size(), no_free, nullptr);
        dealer.send(message, zmq::send_flags::none);
      } else {
        dealer.send(zmq::buffer(payload), zmq::send_flags::none);
      }
    }
    for (int i = 0; i < kBatch; ++i) {
      zmq::message_t id;
      zmq::message_t body;
      (void)router.recv(id, zmq::recv_flags::none);
      (void)router.recv(body, zmq::recv_flags::none);
      benchmark::DoNotOptimize(body.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * kBatch * static_cast<std::int64_t>(size));
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_RawZmqDealerToRouter(benchmark::State& state) { RawZmq(state, /*zero_copy=*/false); }
void BM_RawZmqZeroCopy(benchmark::State& state) { RawZmq(state, /*zero_copy=*/true); }

void BM_ZmqTransport(benchmark::State& state) {
  using shardmesh::mesh::ZmqTransport;
  const auto size = static_cast<std::size_t>(state.range(0));
  shardmesh::mesh::ZmqTransportOptions options;
  options.linger = std::chrono::milliseconds(0);
  auto a = ZmqTransport::Create(options);
  auto b = ZmqTransport::Create(options);
  if (!a.ok() || !b.ok()) {
    state.SkipWithError("cannot create transports");
    return;
  }
  shardmesh::mesh::Envelope envelope;
  envelope.header.type = shardmesh::mesh::MessageType::kBlockResponse;
  envelope.header.sender = "bench-a";
  envelope.payload = shardmesh::SharedBytes::FromVector(std::vector<std::uint8_t>(size, 0x5a));
  const std::string& to = (*b)->endpoint();
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      if (!(*a)->Send(to, envelope).ok()) {
        state.SkipWithError("send failed");
        return;
      }
    }
    for (int i = 0; i < kBatch; ++i) {
      auto got = (*b)->Receive(std::chrono::seconds(5));
      if (!got) {
        state.SkipWithError("receive timed out");
        return;
      }
      benchmark::DoNotOptimize(got->payload.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * kBatch * static_cast<std::int64_t>(size));
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// SimNetwork cost per message at mesh scale: every node sends one 64-byte message to a random
// peer per round, with jitter, then every node drains its inbox.
void BM_SimNetworkRound(benchmark::State& state) {
  const auto nodes = static_cast<std::size_t>(state.range(0));
  shardmesh::ManualClock clock;
  shardmesh::mesh::SimNetwork net(1, clock);
  net.SetDelay(std::chrono::milliseconds(1), std::chrono::milliseconds(5));
  std::vector<std::unique_ptr<shardmesh::mesh::Transport>> members;
  for (std::size_t i = 0; i < nodes; ++i) {
    members.push_back(net.Attach("sim://n" + std::to_string(i)));
  }
  shardmesh::mesh::Envelope envelope;
  envelope.header.sender = "n";
  envelope.payload = shardmesh::SharedBytes::FromString(std::string(64, 'x'));
  shardmesh::Rng rng(2);
  for (auto _ : state) {
    for (auto& member : members) {
      (void)member->Send(members[rng.Uniform(nodes)]->endpoint(), envelope);
    }
    clock.Advance(std::chrono::milliseconds(10));
    for (auto& member : members) {
      while (member->Receive(shardmesh::Duration(0))) {
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(nodes));
}

BENCHMARK(BM_SimNetworkRound)->Arg(100)->Arg(1000);
BENCHMARK(BM_RawZmqDealerToRouter)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_RawZmqZeroCopy)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_ZmqTransport)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
