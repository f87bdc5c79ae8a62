// CurveZMQ key handling: key pair generation and Z85 validation, without exposing zmq headers.
// Keys are 32-byte Curve25519 keys written as 40-character Z85 text, the form used in worker
// configs (`curve_public`, `curve_secret`, `curve_server_public`, `curve_server_secret`,
// `allowed_peers`) and printed by `shardmesh keygen`.
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "shardmesh/common/status.h"

namespace shardmesh::mesh {

inline constexpr std::size_t kCurveKeyZ85Length = 40;
inline constexpr std::size_t kCurveKeyBytes = 32;

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters; keep it out of logs
};

// Whether the linked libzmq was built with CURVE support (libsodium).
bool CurveAvailable();

// A fresh key pair from libzmq's CSPRNG. FailedPrecondition if CURVE is unavailable.
Result<CurveKeyPair> GenerateCurveKeyPair();

// OK if `key` is 40 characters of valid Z85 text; InvalidArgument naming `field` otherwise.
Status ValidateCurveKey(std::string_view key, std::string_view field);

// The 32 raw key bytes of a Z85 key, or InvalidArgument naming `field`.
Result<std::string> DecodeCurveKey(std::string_view key, std::string_view field);

// Z85 text of 32 raw key bytes, or InvalidArgument if `raw` is not 32 bytes long.
Result<std::string> EncodeCurveKey(std::string_view raw);

// The public key that belongs to `secret_key` (Z85 in, Z85 out), so a config whose public and
// secret keys do not match is caught at start-up. InvalidArgument naming `field` on bad input.
Result<std::string> DeriveCurvePublicKey(std::string_view secret_key, std::string_view field);

}  // namespace shardmesh::mesh
