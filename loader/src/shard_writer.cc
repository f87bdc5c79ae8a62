#include "shardmesh/loader/shard_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "shardmesh/common/file.h"

namespace shardmesh::loader {
namespace {

void PutLE(std::uint8_t* out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

Result<std::unique_ptr<ShardWriter>> ShardWriter::Create(const std::string& path,
                                                         std::uint64_t schema_digest,
                                                         bool with_labels) {
  std::unique_ptr<ShardWriter> w(new ShardWriter());
  w->path_ = path;
  w->tmp_path_ = path + ".tmp";
  w->with_labels_ = with_labels;
  w->footer_.schema_digest = schema_digest;
  w->fd_ = ::open(w->tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd_ < 0) return Status::IOError("create " + w->tmp_path_ + ": " + ErrnoText(errno));
  std::uint8_t header[kShardHeaderSize] = {};
  std::memcpy(header, kShardMagic.data(), 8);
  PutLE(header + 8, kShardFormatVersion, 4);
  SHARDMESH_RETURN_IF_ERROR(w->Write(header, sizeof header));
  return w;
}

ShardWriter::~ShardWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_path_.c_str());  // abandoned before Finish: leave no partial file behind
  }
}

Status ShardWriter::Write(const void* data, std::size_t size) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  file_hash_.Update(p, size);
  std::size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("write " + tmp_path_ + ": " + ErrnoText(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  offset_ += size;
  return Status::OK();
}

Status ShardWriter::AddBlock(const EncodedBlock& block) {
  if (fd_ < 0) return Status::FailedPrecondition(path_ + ": shard already finished");
  if (with_labels_ && block.labels.size() != block.num_samples) {
    return Status::InvalidArgument(path_ + ": block without labels");
  }
  ShardBlock info;
  info.offset = offset_;
  info.compressed_size = static_cast<std::uint32_t>(block.compressed.size());
  info.raw_size = block.raw_size;
  info.num_samples = block.num_samples;
  info.checksum = block.checksum;
  SHARDMESH_RETURN_IF_ERROR(Write(block.compressed.data(), block.compressed.size()));
  footer_.blocks.push_back(info);
  footer_.num_samples += block.num_samples;
  raw_bytes_ += block.raw_size;
  if (with_labels_) {
    footer_.labels.insert(footer_.labels.end(), block.labels.begin(), block.labels.end());
  }
  return Status::OK();
}

Result<ShardSummary> ShardWriter::Finish() {
  if (fd_ < 0) return Status::FailedPrecondition(path_ + ": shard already finished");
  const std::string footer = EncodeShardFooter(footer_);
  const std::uint64_t footer_checksum = Hash64(footer);
  SHARDMESH_RETURN_IF_ERROR(Write(footer.data(), footer.size()));
  std::uint8_t trailer[kShardTrailerSize];
  PutLE(trailer, footer.size(), 8);
  PutLE(trailer + 8, footer_checksum, 8);
  std::memcpy(trailer + 16, kShardTrailerMagic.data(), 8);
  SHARDMESH_RETURN_IF_ERROR(Write(trailer, sizeof trailer));
  if (::fsync(fd_) != 0) return Status::IOError("fsync " + tmp_path_ + ": " + ErrnoText(errno));
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return Status::IOError("close " + tmp_path_ + ": " + ErrnoText(errno));
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    return Status::IOError("rename onto " + path_ + ": " + ErrnoText(errno));
  }
  ShardSummary summary;
  summary.num_samples = footer_.num_samples;
  summary.num_blocks = footer_.blocks.size();
  summary.bytes = offset_;
  summary.raw_bytes = raw_bytes_;
  summary.footer_checksum = footer_checksum;
  summary.file_checksum = file_hash_.Digest();
  return summary;
}

}  // namespace shardmesh::loader
