#include "shardmesh/mesh/curve_keys.h"

#include <zmq.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace shardmesh::mesh {
namespace {

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

}  // namespace

bool CurveAvailable() { return zmq_has("curve") != 0; }

Result<CurveKeyPair> GenerateCurveKeyPair() {
  if (!CurveAvailable()) {
    return Status::FailedPrecondition("libzmq was built without CURVE support");
  }
  std::array<char, kCurveKeyZ85Length + 1> public_key{};
  std::array<char, kCurveKeyZ85Length + 1> secret_key{};
  if (zmq_curve_keypair(public_key.data(), secret_key.data()) != 0) {
    return Status::Internal(std::string("zmq_curve_keypair failed: ") + zmq_strerror(errno));
  }
  return CurveKeyPair{std::string(public_key.data(), kCurveKeyZ85Length),
                      std::string(secret_key.data(), kCurveKeyZ85Length)};
}

Status ValidateCurveKey(std::string_view key, std::string_view field) {
  if (key.size() != kCurveKeyZ85Length) {
    return Status::InvalidArgument("curve key '" + std::string(field) + "': expected " +
                                   std::to_string(kCurveKeyZ85Length) + " Z85 characters, got " +
                                   std::to_string(key.size()));
  }
  const auto bad = std::find_if(key.begin(), key.end(), [](char c) {
    return kZ85Alphabet.find(c) == std::string_view::npos;
  });
  if (bad != key.end()) {
    return Status::InvalidArgument("curve key '" + std::string(field) +
                                   "': invalid Z85 character at offset " +
                                   std::to_string(bad - key.begin()));
  }
  return Status::OK();
}

Result<std::string> DecodeCurveKey(std::string_view key, std::string_view field) {
  SHARDMESH_RETURN_IF_ERROR(ValidateCurveKey(key, field));
  const std::string text(key);  // zmq_z85_decode wants a NUL-terminated string
  std::string raw(kCurveKeyBytes, '\0');
  if (zmq_z85_decode(reinterpret_cast<std::uint8_t*>(raw.data()), text.c_str()) == nullptr) {
    return Status::InvalidArgument("curve key '" + std::string(field) + "': not valid Z85");
  }
  return raw;
}

Result<std::string> EncodeCurveKey(std::string_view raw) {
  if (raw.size() != kCurveKeyBytes) {
    return Status::InvalidArgument("curve key: expected " + std::to_string(kCurveKeyBytes) +
                                   " raw bytes, got " + std::to_string(raw.size()));
  }
  std::array<char, kCurveKeyZ85Length + 1> text{};
  if (zmq_z85_encode(text.data(), reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()) ==
      nullptr) {
    return Status::Internal("zmq_z85_encode failed");
  }
  return std::string(text.data(), kCurveKeyZ85Length);
}

Result<std::string> DeriveCurvePublicKey(std::string_view secret_key, std::string_view field) {
  if (!CurveAvailable()) {
    return Status::FailedPrecondition("libzmq was built without CURVE support");
  }
  SHARDMESH_RETURN_IF_ERROR(ValidateCurveKey(secret_key, field));
  const std::string secret(secret_key);
  std::array<char, kCurveKeyZ85Length + 1> public_key{};
  if (zmq_curve_public(public_key.data(), secret.c_str()) != 0) {
    return Status::InvalidArgument("curve key '" + std::string(field) +
                                   "': cannot derive a public key: " + zmq_strerror(errno));
  }
  return std::string(public_key.data(), kCurveKeyZ85Length);
}

}  // namespace shardmesh::mesh
