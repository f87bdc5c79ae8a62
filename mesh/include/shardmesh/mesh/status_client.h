// QueryMeshStatus: asks a running mesh node for its MeshStatus over the mesh transport, as
// `shardmesh status` does. Opens a short-lived ZeroMQ transport on 127.0.0.1.
//
// Thread-safety: a free function; concurrent calls use separate transports.
#pragma once

#include <string>

#include "shardmesh/common/clock.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/mesh_status.h"
#include "shardmesh/mesh/transport_options.h"

namespace shardmesh::mesh {

// `options` supplies CurveZMQ keys for a secured mesh (its bind is ignored). DeadlineExceeded
// naming the endpoint when no reply arrives within `timeout`; Corruption for a bad reply.
Result<MeshStatus> QueryMeshStatus(const std::string& endpoint, Duration timeout,
                                   ZmqTransportOptions options = {});

}  // namespace shardmesh::mesh
