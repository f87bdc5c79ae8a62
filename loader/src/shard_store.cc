#include "shardmesh/loader/shard_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "shardmesh/common/file.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/loader/shard_reader.h"

namespace shardmesh::loader {
namespace {

constexpr std::string_view kCatalogFile = "catalog.bin";

Status ErrnoError(const std::string& what, const std::string& path) {
  return Status::IOError(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

// Copies `from` to `to` with a fixed buffer and fsyncs `to`.
Status CopyFile(const std::string& from, const std::string& to) {
  SHARDMESH_ASSIGN_OR_RETURN(RandomAccessFile in, RandomAccessFile::Open(from));
  const int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", to);
  std::vector<std::uint8_t> buf(4u << 20);
  Status status;
  for (std::uint64_t off = 0; off < in.size() && status.ok();) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), in.size() - off));
    status = in.ReadAt(off, std::span(buf.data(), n));
    for (std::size_t done = 0; status.ok() && done < n;) {
      const ssize_t w = ::pwrite(fd, buf.data() + done, n - done, static_cast<off_t>(off + done));
      if (w < 0) {
        if (errno == EINTR) continue;
        status = ErrnoError("cannot write", to);
      } else {
        done += static_cast<std::size_t>(w);
      }
    }
    off += n;
  }
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("cannot fsync", to);
  ::close(fd);
  return status;
}

// Parses a decimal field of a blob name; false when it is not a plain number.
bool ParseNumber(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

}  // namespace

ShardStore::~ShardStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string ShardStore::BlockBlobName(std::string_view id, std::uint32_t block) {
  return fmt::format("{}/b/{}", id, block);
}

std::string ShardStore::ChunkBlobName(std::string_view id, std::uint32_t shard,
                                      std::uint64_t chunk) {
  return fmt::format("{}/c/{}/{}", id, shard, chunk);
}

Result<std::unique_ptr<ShardStore>> ShardStore::Open(
    ShardStoreOptions options, std::shared_ptr<const DatasetCatalog> catalog) {
  if (options.data_dir.empty()) return Status::InvalidArgument("shard store: data_dir is empty");
  if (!catalog) return Status::InvalidArgument("shard store: no dataset catalog");
  std::unique_ptr<ShardStore> store(new ShardStore());
  store->catalog_ = std::move(catalog);
  store->dir_ = options.data_dir + "/" + store->catalog_->id();
  store->source_dir_ = options.source_dir;
  SHARDMESH_RETURN_IF_ERROR(CreateDirectories(store->dir_));
  // Two live stores on one directory would delete each other's pulls in progress (.part
  // files, below) and race on installs: the second is refused. The kernel drops the lock
  // when its holder dies, so a restarted worker is never locked out by a crashed one.
  const std::string lock_path = store->dir_ + "/.lock";
  store->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (store->lock_fd_ < 0) {
    return Status::IOError("shard store: open " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(store->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition(
          "shard store " + store->dir_ +
          " is in use by another worker or loader (lock " + lock_path +
          "); give each worker a data_dir of its own");
    }
    return Status::IOError("shard store: flock " + lock_path + ": " + std::strerror(errno));
  }
  SHARDMESH_RETURN_IF_ERROR(WriteFileAtomically(store->dir_ + "/" + std::string(kCatalogFile),
                                                store->catalog_->encoded()));
  const auto& shards = store->catalog_->manifest().shards;
  store->local_.resize(shards.size());
  if (!store->source_dir_.empty()) {
    for (std::uint32_t s = 0; s < shards.size(); ++s) {
      SHARDMESH_ASSIGN_OR_RETURN(auto reader,
                                 ShardReader::Open(store->source_dir_ + "/" + shards[s].file));
      if (reader->footer_checksum() != shards[s].footer_checksum) {
        return Status::Corruption(reader->path() + ": footer differs from the catalog's");
      }
      store->source_.push_back(std::move(reader));
    }
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(store->dir_, ec)) {
    if (entry.path().extension() == ".part") std::filesystem::remove(entry.path(), ec);
  }
  for (std::uint32_t s = 0; s < shards.size(); ++s) {
    const std::string path = store->ShardPath(s);
    if (!std::filesystem::exists(path, ec)) continue;
    auto reader = ShardReader::Open(path);
    Status ok = reader.status();
    if (ok.ok() && (*reader)->footer_checksum() != shards[s].footer_checksum) {
      ok = Status::Corruption(path + ": footer differs from the catalog's");
    }
    if (ok.ok() && options.verify_at_open) {
      auto sum = (*reader)->ComputeFileChecksum();
      ok = !sum.ok() ? sum.status()
           : *sum != shards[s].file_checksum
               ? Status::Corruption(path + ": file checksum differs from the manifest")
               : Status::OK();
    }
    if (!ok.ok()) {
      spdlog::warn("shard store: dropping damaged copy: {}", ok.message());
      std::filesystem::remove(path, ec);
      continue;
    }
    store->bytes_stored_ += (*reader)->file_size();
    store->local_[s] = std::move(reader).value();
  }
  return store;
}

std::string ShardStore::ShardPath(std::uint32_t shard) const {
  return dir_ + "/" + catalog_->manifest().shards[shard].file;
}

std::string ShardStore::PartPath(std::uint32_t shard) const { return ShardPath(shard) + ".part"; }

bool ShardStore::Has(std::uint32_t shard) const { return Reader(shard) != nullptr; }

std::shared_ptr<const ShardReader> ShardStore::Reader(std::uint32_t shard) const {
  std::shared_lock lock(mu_);
  return shard < local_.size() ? local_[shard] : nullptr;
}

std::shared_ptr<const ShardReader> ShardStore::SourceReader(std::uint32_t shard) const {
  return shard < source_.size() ? source_[shard] : nullptr;
}

std::vector<std::uint32_t> ShardStore::HeldShards() const {
  std::shared_lock lock(mu_);
  std::vector<std::uint32_t> out;
  for (std::uint32_t s = 0; s < local_.size(); ++s)
    if (local_[s]) out.push_back(s);
  return out;
}

Status ShardStore::VerifyAndInstall(std::uint32_t shard, const std::string& part) {
  const ShardEntry& e = catalog_->manifest().shards[shard];
  std::error_code ec;
  auto fail = [&](Status s) {
    std::filesystem::remove(part, ec);
    return s;
  };
  auto reader = ShardReader::Open(part);
  if (!reader.ok()) return fail(reader.status());
  if ((*reader)->file_size() != e.bytes) {
    return fail(Status::Corruption(fmt::format("{}: {} bytes, manifest says {}", part,
                                               (*reader)->file_size(), e.bytes)));
  }
  auto sum = (*reader)->ComputeFileChecksum();
  if (!sum.ok()) return fail(sum.status());
  if (*sum != e.file_checksum) {
    return fail(Status::Corruption(part + ": file checksum differs from the manifest"));
  }
  const std::string path = ShardPath(shard);
  if (std::rename(part.c_str(), path.c_str()) != 0) return fail(ErrnoError("cannot rename", part));
  SHARDMESH_RETURN_IF_ERROR(SyncDirectory(dir_));
  SHARDMESH_ASSIGN_OR_RETURN(auto installed, ShardReader::Open(path));
  std::unique_lock lock(mu_);
  if (!local_[shard]) bytes_stored_ += installed->file_size();
  local_[shard] = std::move(installed);
  return Status::OK();
}

Status ShardStore::InstallFromSource(std::uint32_t shard) {
  if (!has_source()) return Status::FailedPrecondition("shard store: no source_dir");
  if (shard >= source_.size()) return Status::InvalidArgument(fmt::format("no shard {}", shard));
  const std::string part = PartPath(shard);
  SHARDMESH_RETURN_IF_ERROR(CopyFile(source_[shard]->path(), part));
  // A damaged copy names the source file, which is where the damage is.
  return VerifyAndInstall(shard, part).WithContext("copy of " + source_[shard]->path());
}

Status ShardStore::InstallPulled(std::uint32_t shard) {
  if (shard >= local_.size()) return Status::InvalidArgument(fmt::format("no shard {}", shard));
  return VerifyAndInstall(shard, PartPath(shard));
}

Status ShardStore::Drop(std::uint32_t shard) {
  std::shared_ptr<const ShardReader> old;
  {
    std::unique_lock lock(mu_);
    if (shard >= local_.size() || !local_[shard]) return Status::OK();
    old = std::move(local_[shard]);
    bytes_stored_ -= old->file_size();
  }
  std::error_code ec;
  std::filesystem::remove(ShardPath(shard), ec);
  if (ec) return Status::IOError("cannot remove " + ShardPath(shard) + ": " + ec.message());
  return Status::OK();
}

Result<SharedBytes> ShardStore::ReadBlock(std::uint32_t block) const {
  const auto blocks = catalog_->blocks();
  if (block >= blocks.size()) {
    return Status::InvalidArgument(fmt::format("no block {} (dataset has {})", block, blocks.size()));
  }
  const BlockInfo& info = blocks[block];
  if (auto local = Reader(info.shard)) return local->ReadCompressedBlock(info.index_in_shard);
  return ReadSourceBlock(block);
}

Result<SharedBytes> ShardStore::ReadSourceBlock(std::uint32_t block) const {
  const auto blocks = catalog_->blocks();
  if (block >= blocks.size()) {
    return Status::InvalidArgument(fmt::format("no block {} (dataset has {})", block, blocks.size()));
  }
  const BlockInfo& info = blocks[block];
  if (auto source = SourceReader(info.shard)) {
    return source->ReadCompressedBlock(info.index_in_shard);
  }
  return Status::NotFound(fmt::format("{} not held here",
                                      catalog_->manifest().shards[info.shard].file));
}

Status ShardStore::RepairBlock(std::uint32_t block, ByteView good) {
  const auto blocks = catalog_->blocks();
  if (block >= blocks.size()) return Status::InvalidArgument(fmt::format("no block {}", block));
  const BlockInfo& info = blocks[block];
  if (good.size() != info.compressed_size || Hash64(good) != info.checksum) {
    return Status::InvalidArgument(fmt::format("repair of block {}: bytes fail its checksum", block));
  }
  if (!Reader(info.shard)) {
    return Status::FailedPrecondition(fmt::format("repair of block {}: no local copy", block));
  }
  const std::string path = ShardPath(info.shard);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open for repair", path);
  Status status;
  for (std::size_t done = 0; done < good.size();) {
    const ssize_t w = ::pwrite(fd, good.data() + done, good.size() - done,
                               static_cast<off_t>(info.offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      status = ErrnoError("cannot write", path);
      break;
    }
    done += static_cast<std::size_t>(w);
  }
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("cannot fsync", path);
  ::close(fd);
  return status;
}

Result<SharedBytes> ShardStore::ReadChunk(std::uint32_t shard, std::uint64_t chunk) const {
  auto reader = Reader(shard);
  if (!reader) reader = SourceReader(shard);
  if (!reader) return Status::NotFound(fmt::format("shard {} not held here", shard));
  const std::uint64_t size = catalog_->manifest().shards[shard].bytes;
  const std::uint64_t offset = chunk * kChunkBytes;
  if (offset >= size) return Status::InvalidArgument(fmt::format("shard {} has no chunk {}", shard, chunk));
  SHARDMESH_ASSIGN_OR_RETURN(RandomAccessFile file, RandomAccessFile::Open(reader->path()));
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min(kChunkBytes, size - offset)));
  SHARDMESH_RETURN_IF_ERROR(file.ReadAt(offset, buf));
  return SharedBytes::FromVector(std::move(buf));
}

Result<mesh::Blob> ShardStore::Get(std::string_view name) {
  mesh::Blob blob;
  if (name == CatalogBlobName()) {
    blob.data = SharedBytes(catalog_, AsBytes(catalog_->encoded()));
    blob.checksum = Hash64(blob.data.view());
    return blob;
  }
  const std::string& id = catalog_->id();
  if (name.size() < id.size() + 3 || name.substr(0, id.size()) != id || name[id.size()] != '/') {
    return Status::NotFound(fmt::format("unknown blob {}", name));
  }
  std::string_view rest = name.substr(id.size() + 1);
  std::uint64_t a = 0, b = 0;
  if (rest.substr(0, 2) == "b/" && ParseNumber(rest.substr(2), a) && a <= UINT32_MAX) {
    const auto blocks = catalog_->blocks();
    auto read = ReadBlock(static_cast<std::uint32_t>(a));
    // A damaged local copy is not served while the source can stand in for it.
    if (!read.ok() && read.status().code() == StatusCode::kCorruption && has_source()) {
      read = ReadSourceBlock(static_cast<std::uint32_t>(a));
    }
    SHARDMESH_ASSIGN_OR_RETURN(blob.data, std::move(read));
    blob.checksum = blocks[a].checksum;  // verified by the read
    return blob;
  }
  if (rest.substr(0, 2) == "c/") {
    const std::string_view tail = rest.substr(2);
    const std::size_t slash = tail.find('/');
    if (slash != std::string_view::npos && ParseNumber(tail.substr(0, slash), a) &&
        ParseNumber(tail.substr(slash + 1), b) && a < catalog_->num_shards()) {
      SHARDMESH_ASSIGN_OR_RETURN(blob.data, ReadChunk(static_cast<std::uint32_t>(a), b));
      blob.checksum = Hash64(blob.data.view());
      return blob;
    }
  }
  return Status::NotFound(fmt::format("unknown blob {}", name));
}

}  // namespace shardmesh::loader
