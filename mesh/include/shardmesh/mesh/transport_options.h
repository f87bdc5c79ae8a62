// ZmqTransportOptions: configuration of the ZeroMQ mesh transport. The field names are the
// worker config keys (see tools/src/worker_config.h).
//
// CurveZMQ scheme (all five curve fields set, or none):
//   - every member's ROUTER inbox is a CURVE server with the mesh-wide server key pair
//     (curve_server_public / curve_server_secret), shared by all members;
//   - every member's DEALERs are CURVE clients with the member's own key pair
//     (curve_public / curve_secret) and the server public key;
//   - a ZAP handler admits a connecting DEALER only if its client public key is in
//     allowed_peers (the node's own key is always admitted). Everything else, including plain
//     (non-CURVE) peers and holders of unlisted keys, is refused during the handshake, so its
//     messages never reach Receive().
// Why a shared server key: the ROUTER cannot know which client key a peer will present, and
// DEALERs need one server key to dial any member; per-member server keys would need a key
// directory before the first contact. Revoking a member means removing its client key from
// allowed_peers everywhere; the server secret only proves "this is a mesh member's inbox".
//
// Thread-safety: a plain value type.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "shardmesh/common/clock.h"

namespace shardmesh::mesh {

struct ZmqTransportOptions {
  // Where this node's ROUTER inbox listens. Port 0 or "*" picks an ephemeral port, which
  // endpoint() then reports. Binding 0.0.0.0 needs `advertise` set to a reachable address.
  std::string bind = "tcp://127.0.0.1:0";
  // The endpoint peers are told to use (header sender_endpoint and endpoint()). Empty: the
  // endpoint actually bound.
  std::string advertise;
  // Largest payload accepted by Send and largest inbound frame (ZMQ_MAXMSGSIZE: a peer that
  // sends more is disconnected). Bigger allows larger blocks per message but lets one peer
  // make this node buffer that much.
  std::size_t max_message_bytes = 64u << 20;
  // Messages queued per peer DEALER before Send returns Unavailable (ZMQ_SNDHWM). Higher
  // absorbs bursts but hides a slow peer for longer and holds more memory.
  int send_high_water_mark = 1000;
  // Messages queued per connected peer on the inbox (ZMQ_RCVHWM); beyond it ZeroMQ stops
  // reading from that peer, pushing back on its sender.
  int receive_high_water_mark = 1000;
  // DEALERs unused this long are closed (and reopened on the next Send). Shorter frees file
  // descriptors sooner; longer avoids reconnect handshakes (costly with CURVE).
  Duration idle_peer_timeout = std::chrono::seconds(60);
  // At most this many DEALERs stay open; opening one more closes the least recently used.
  // Bounds file descriptors in large meshes.
  std::size_t max_open_peers = 512;
  // How long Close() lets queued outgoing messages drain (ZMQ_LINGER). Zero drops them at once
  // (fast shutdown); longer lets a final message such as a leave announcement get out.
  std::chrono::milliseconds linger{100};

  // CurveZMQ keys, Z85 text (40 characters, from `shardmesh keygen`); all empty: plaintext.
  std::string curve_public;                // this node's client public key
  std::string curve_secret;                // this node's client secret key
  std::string curve_server_public;         // the mesh's shared server public key
  std::string curve_server_secret;         // the mesh's shared server secret key
  std::vector<std::string> allowed_peers;  // client public keys the ZAP handler admits

  bool curve_enabled() const {
    return !curve_public.empty() || !curve_secret.empty() || !curve_server_public.empty() ||
           !curve_server_secret.empty();
  }
};

}  // namespace shardmesh::mesh
