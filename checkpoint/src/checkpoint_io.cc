#include "checkpoint_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "shardmesh/checkpoint/checkpoint_file.h"
#include "shardmesh/common/file.h"
#include "shardmesh/common/hash.h"

namespace shardmesh::checkpoint::internal {
namespace {

// Hashing a chunk pulls it into cache and the write copies it from there, so the payload is
// read from memory once. Writeback of each kWritebackEvery stretch is started as soon as it is
// written, so the device works while the rest is hashed and copied and the final fsync waits
// only for the tail; a plain write-then-fsync (as dd conv=fsync does) leaves the device idle
// until the fsync. Sizes measured on this project's VMs (ext4 on virtio, 64 MiB blobs): 1 MiB
// chunks with writeback every 1-4 MiB ran at ~690 MB/s, 256 KiB chunks or 32 MiB stretches
// 10-20% slower, no early writeback 15% slower.
constexpr std::size_t kWriteChunk = 1024 * 1024;
constexpr std::size_t kWritebackEvery = 4 * 1024 * 1024;

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  std::string m = what + " " + path + ": " + ErrnoText(err);
  if (err == ENOENT) return Status::NotFound(std::move(m));
  return Status::IOError(std::move(m));
}

Status PwriteAll(int fd, const std::string& path, const std::uint8_t* data, std::size_t size,
                 std::uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return Status::OK();
}

// Payload (hashed as it goes) at kCheckpointHeaderSize, then the header at 0.
Status WriteFramed(int fd, const std::string& tmp, std::uint64_t sequence, ByteView payload) {
  Hasher64 hasher;
  // The first page is left to the fsync: the header is written into it last.
  std::uint64_t writeback_from = 4096;
  for (std::size_t off = 0; off < payload.size(); off += kWriteChunk) {
    const std::size_t n = std::min(kWriteChunk, payload.size() - off);
    hasher.Update(payload.data() + off, n);
    SHARDMESH_RETURN_IF_ERROR(
        PwriteAll(fd, tmp, payload.data() + off, n, kCheckpointHeaderSize + off));
    const std::uint64_t written = kCheckpointHeaderSize + off + n;
    if (written >= writeback_from + kWritebackEvery) {
      // Only a hint: a failure here changes nothing, the fsync below is what makes it durable.
      (void)::sync_file_range(fd, static_cast<off_t>(writeback_from),
                              static_cast<off_t>(written - writeback_from), SYNC_FILE_RANGE_WRITE);
      writeback_from = written;
    }
  }
  CheckpointHeader h;
  h.sequence = sequence;
  h.payload_size = payload.size();
  h.payload_hash = hasher.Digest();
  const std::string header = EncodeCheckpointHeader(h);
  return PwriteAll(fd, tmp, AsBytes(header).data(), header.size(), 0);
}

}  // namespace

Status WriteCheckpointFileAtomically(const std::string& dir, const std::string& path,
                                     std::uint64_t sequence, ByteView payload) {
  std::string tmp = path + kTempInfix + "XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("create temporary file for", path, errno);
  ::fchmod(fd, 0644);  // mkstemp creates 0600; a peer process may need to read checkpoints
  Status s = WriteFramed(fd, tmp, sequence, payload);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync", tmp, errno);
  if (::close(fd) != 0 && s.ok()) s = ErrnoStatus("close", tmp, errno);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus("rename " + tmp + " onto", path, errno);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDirectory(dir);
}

Result<ReadCheckpoint> ReadCheckpointFile(const std::string& path) {
  SHARDMESH_ASSIGN_OR_RETURN(RandomAccessFile f, RandomAccessFile::Open(path));
  if (f.size() < kCheckpointHeaderSize) {
    return Status::Corruption(path + ": truncated: " + std::to_string(f.size()) +
                              " bytes, shorter than the " + std::to_string(kCheckpointHeaderSize) +
                              "-byte header");
  }
  std::uint8_t raw[kCheckpointHeaderSize];
  SHARDMESH_RETURN_IF_ERROR(f.ReadAt(0, raw));
  auto header = DecodeCheckpointHeader(raw);
  if (!header.ok()) return header.status().WithContext(path);
  const std::uint64_t have = f.size() - kCheckpointHeaderSize;
  if (have != header->payload_size) {
    return Status::Corruption(path + ": " +
                              (have < header->payload_size ? "truncated" : "trailing bytes") +
                              ": header says " + std::to_string(header->payload_size) +
                              " payload bytes, file has " + std::to_string(have));
  }
  ReadCheckpoint out;
  out.sequence = header->sequence;
  out.payload.resize(header->payload_size);
  SHARDMESH_RETURN_IF_ERROR(
      f.ReadAt(kCheckpointHeaderSize,
               {reinterpret_cast<std::uint8_t*>(out.payload.data()), out.payload.size()}));
  if (Hash64(out.payload) != header->payload_hash) {
    return Status::Corruption(path + ": payload checksum mismatch (" +
                              std::to_string(header->payload_size) + " bytes)");
  }
  return out;
}

}  // namespace shardmesh::checkpoint::internal
