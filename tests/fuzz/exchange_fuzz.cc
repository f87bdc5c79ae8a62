// Fuzzes the block exchange codec with arbitrary bytes, as an untrusted peer could send them:
// the same input is decoded as a request and as a response meta. Any crash, sanitizer report
// or non-Corruption error is a bug; whatever decodes must survive a re-encode/decode round
// trip unchanged. The bytes are then handed to a live BlockExchange as a request payload and as
// a response meta (one fetch pending, so response paths run), which must drop or answer them
// without crashing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "../../mesh/src/exchange_codec.h"
#include "shardmesh/mesh/block_exchange.h"

namespace {

// Accepts and discards every send: the fuzzer only cares that the exchange survives.
class NullTransport : public shardmesh::mesh::Transport {
 public:
  const std::string& endpoint() const override { return endpoint_; }
  shardmesh::Status Send(const std::string&, const shardmesh::mesh::Envelope&) override {
    return shardmesh::Status::OK();
  }
  std::optional<shardmesh::mesh::Envelope> Receive(shardmesh::Duration) override {
    return std::nullopt;
  }

 private:
  std::string endpoint_ = "sim://fuzz";
};

class OneBlob : public shardmesh::mesh::BlobProvider {
 public:
  shardmesh::Result<shardmesh::mesh::Blob> Get(std::string_view name) override {
    if (name != "a") return shardmesh::Status::NotFound("no");
    return shardmesh::mesh::Blob{shardmesh::SharedBytes::FromString("x"), 1};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shardmesh::mesh;
  const shardmesh::ByteView bytes(data, size);
  shardmesh::Result<BlockRequestMsg> request = DecodeBlockRequest(bytes);
  if (request.ok()) {
    shardmesh::Result<BlockRequestMsg> again =
        DecodeBlockRequest(shardmesh::AsBytes(EncodeBlockRequest(*request)));
    if (!again.ok() || again->request_id != request->request_id || again->name != request->name) {
      std::abort();
    }
  } else if (!request.status().IsCorruption()) {
    std::abort();
  }
  shardmesh::Result<BlockResponseMsg> response = DecodeBlockResponse(bytes);
  if (response.ok()) {
    shardmesh::Result<BlockResponseMsg> again =
        DecodeBlockResponse(shardmesh::AsBytes(EncodeBlockResponse(*response)));
    if (!again.ok() || again->request_id != response->request_id || again->code != response->code ||
        again->message != response->message || again->checksum != response->checksum ||
        again->size != response->size) {
      std::abort();
    }
  } else if (!response.status().IsCorruption()) {
    std::abort();
  }

  static shardmesh::ManualClock clock;
  static OneBlob provider;
  static NullTransport transport;
  static std::unique_ptr<BlockExchange> exchange = [] {
    ExchangeOptions options;
    options.node_name = "fuzz";
    options.server_threads = 0;
    return std::move(BlockExchange::Create(options, &provider, clock)).value();
  }();
  // Keep a fetch pending so that responses with small request ids meet a live try.
  if (exchange->pending_fetches() == 0) (void)exchange->Fetch("a", {"sim://peer"});
  Envelope envelope;
  envelope.header.sender = "peer";
  envelope.header.sender_endpoint = "sim://peer";
  envelope.payload = shardmesh::SharedBytes::Copy(bytes);
  envelope.header.type = MessageType::kBlockRequest;
  exchange->HandleEnvelope(envelope, transport);
  envelope.header.type = MessageType::kBlockResponse;
  envelope.attachment = envelope.payload;
  exchange->HandleEnvelope(envelope, transport);
  clock.Advance(std::chrono::milliseconds(1));
  return 0;
}
