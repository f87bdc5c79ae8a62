#include "shardmesh/mesh/status_client.h"

#include <unistd.h>

#include <chrono>

#include "shardmesh/mesh/zmq_transport.h"

namespace shardmesh::mesh {

Result<MeshStatus> QueryMeshStatus(const std::string& endpoint, Duration timeout,
                                   ZmqTransportOptions options) {
  options.bind = "tcp://127.0.0.1:0";
  options.advertise.clear();
  options.linger = std::chrono::milliseconds(0);
  SHARDMESH_ASSIGN_OR_RETURN(auto transport, ZmqTransport::Create(options));

  Envelope request;
  request.header.type = MessageType::kStatusRequest;
  request.header.sender = "status-" + std::to_string(::getpid());
  request.header.sender_endpoint = transport->endpoint();
  SHARDMESH_RETURN_IF_ERROR(transport->Send(endpoint, request));

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto reply = transport->Receive(std::chrono::milliseconds(50));
    if (reply && reply->header.type == MessageType::kStatusResponse) {
      return MeshStatusFromJson(reply->payload.chars());
    }
  }
  return Status::DeadlineExceeded(
      "no status reply from " + endpoint + " within " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
      " ms (is a worker running there, with the same curve keys?)");
}

}  // namespace shardmesh::mesh
