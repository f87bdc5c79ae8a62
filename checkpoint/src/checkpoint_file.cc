#include "shardmesh/checkpoint/checkpoint_file.h"

#include <cstring>

#include "shardmesh/common/hash.h"

namespace shardmesh::checkpoint {
namespace {

constexpr char kMagic[4] = {'S', 'M', 'C', 'K'};
constexpr std::size_t kHeaderHashOffset = 32;

void PutLe(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t GetLe(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::string EncodeCheckpointHeader(const CheckpointHeader& header) {
  std::string out(kMagic, sizeof(kMagic));
  out.reserve(kCheckpointHeaderSize);
  PutLe(out, header.version, 4);
  PutLe(out, header.sequence, 8);
  PutLe(out, header.payload_size, 8);
  PutLe(out, header.payload_hash, 8);
  PutLe(out, Hash64(out), 8);
  return out;
}

Result<CheckpointHeader> DecodeCheckpointHeader(ByteView data) {
  if (data.size() < kCheckpointHeaderSize) {
    return Status::Corruption("checkpoint header truncated: " + std::to_string(data.size()) +
                              " of " + std::to_string(kCheckpointHeaderSize) + " bytes");
  }
  if (std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Corruption("checkpoint header: bad magic (not a shardmesh checkpoint)");
  }
  const std::uint64_t want = GetLe(data.data() + kHeaderHashOffset, 8);
  if (Hash64(data.data(), kHeaderHashOffset) != want) {
    return Status::Corruption("checkpoint header: checksum mismatch");
  }
  CheckpointHeader h;
  h.version = static_cast<std::uint32_t>(GetLe(data.data() + 4, 4));
  if (h.version != kCheckpointFileVersion) {
    return Status::InvalidArgument("checkpoint header: unknown format version " +
                                   std::to_string(h.version) + " (this build reads " +
                                   std::to_string(kCheckpointFileVersion) + ")");
  }
  h.sequence = GetLe(data.data() + 8, 8);
  h.payload_size = GetLe(data.data() + 16, 8);
  h.payload_hash = GetLe(data.data() + 24, 8);
  return h;
}

std::string EncodeCheckpointFile(std::uint64_t sequence, ByteView payload) {
  CheckpointHeader h;
  h.sequence = sequence;
  h.payload_size = payload.size();
  h.payload_hash = Hash64(payload);
  std::string out = EncodeCheckpointHeader(h);
  out.append(AsChars(payload));
  return out;
}

Result<CheckpointFileView> DecodeCheckpointFile(ByteView data) {
  SHARDMESH_ASSIGN_OR_RETURN(const CheckpointHeader h, DecodeCheckpointHeader(data));
  const std::uint64_t have = data.size() - kCheckpointHeaderSize;
  if (have < h.payload_size) {
    return Status::Corruption("checkpoint truncated: header says " +
                              std::to_string(h.payload_size) + " payload bytes, file has " +
                              std::to_string(have));
  }
  if (have > h.payload_size) {
    return Status::Corruption("checkpoint has " + std::to_string(have - h.payload_size) +
                              " trailing bytes after its " + std::to_string(h.payload_size) +
                              "-byte payload");
  }
  const ByteView payload = data.subspan(kCheckpointHeaderSize);
  if (Hash64(payload) != h.payload_hash) {
    return Status::Corruption("checkpoint payload checksum mismatch (" +
                              std::to_string(h.payload_size) + " bytes)");
  }
  return CheckpointFileView{h.sequence, payload};
}

}  // namespace shardmesh::checkpoint
