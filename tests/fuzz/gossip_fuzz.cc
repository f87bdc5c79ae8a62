// Fuzzes the SWIM payload codec and the membership state machine behind it. Input:
// [message type selector][payload bytes]. The payload goes through DecodeGossipPayload (must
// return a Status, never crash); when it decodes, re-encoding must round-trip exactly, and the
// envelope is handed to a live Membership node, so malformed-but-decodable gossip (unknown
// members, huge incarnations, claims about the node itself) exercises every transition.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "../../mesh/src/gossip_codec.h"
#include "shardmesh/common/clock.h"
#include "shardmesh/mesh/membership.h"

namespace {

using namespace shardmesh;
using namespace shardmesh::mesh;

class NullTransport final : public Transport {
 public:
  const std::string& endpoint() const override { return endpoint_; }
  Status Send(const std::string&, const Envelope&) override { return Status::OK(); }
  std::optional<Envelope> Receive(Duration) override { return std::nullopt; }

 private:
  std::string endpoint_ = "sim://fuzz";
};

constexpr MessageType kTypes[] = {MessageType::kPing,
                                  MessageType::kAck,
                                  MessageType::kPingReq,
                                  MessageType::kNack,
                                  MessageType::kPushPullRequest,
                                  MessageType::kPushPullResponse,
                                  MessageType::kLeave};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const MessageType type = kTypes[data[0] % (sizeof(kTypes) / sizeof(kTypes[0]))];
  const ByteView payload(data + 1, size - 1);

  Result<GossipPayload> decoded = DecodeGossipPayload(payload);
  if (!decoded.ok()) {
    if (!decoded.status().IsCorruption()) std::abort();
    return 0;
  }
  Result<GossipPayload> again = DecodeGossipPayload(AsBytes(EncodeGossipPayload(*decoded)));
  if (!again.ok() || !(*again == *decoded)) std::abort();

  static ManualClock clock;
  static NullTransport transport;
  MeshOptions options = MeshOptions::Local();
  options.name = "fuzz";
  options.random_seed = 1;
  static std::unique_ptr<Membership> node =
      std::move(Membership::Create(options, transport, clock)).value();
  Envelope e;
  e.header.type = type;
  e.header.sender = "peer";
  e.header.sender_endpoint = "sim://peer";
  e.header.incarnation = data[0];
  e.payload = SharedBytes::Copy(payload);
  node->Handle(e);
  clock.Advance(std::chrono::milliseconds(37));
  node->Tick();
  (void)node->Members();
  (void)node->Agreed();
  return 0;
}
