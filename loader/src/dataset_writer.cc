#include "shardmesh/loader/dataset_writer.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <utility>

#include "shardmesh/common/file.h"

namespace shardmesh::loader {
namespace {

// The directory locks of the writers alive in this process, closed in a forked child: a flock
// belongs to the open file, which the child shares, so a child forked while a writer lived (a
// multiprocessing pool started by a sample generator) kept the directory locked after the
// writer was gone. Slots hold fd + 1 (0: free); a forked child runs one thread, so its handler
// takes no lock. A writer whose fd is no longer tracked (in such a child) does not close it:
// the number may name another file there.
constexpr std::size_t kLockSlots = 64;
std::atomic<int> g_lock_fds[kLockSlots];

void CloseLocksInChild() {
  for (auto& slot : g_lock_fds) {
    if (const int v = slot.exchange(0); v > 0) ::close(v - 1);
  }
}

bool TrackLock(int fd) {
  static std::once_flag registered;
  std::call_once(registered, [] { ::pthread_atfork(nullptr, nullptr, &CloseLocksInChild); });
  for (auto& slot : g_lock_fds) {
    int free = 0;
    if (slot.compare_exchange_strong(free, fd + 1)) return true;
  }
  return false;  // more live writers than slots: this one's lock is inherited by a child
}

bool UntrackLock(int fd) {
  for (auto& slot : g_lock_fds) {
    int mine = fd + 1;
    if (slot.compare_exchange_strong(mine, 0)) return true;
  }
  return false;
}

}  // namespace

std::string ShardFileName(std::uint32_t shard) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05u.smd", shard);
  return buf;
}

DatasetWriter::DatasetWriter(std::string dir, Schema schema, const DatasetWriterOptions& options)
    : dir_(std::move(dir)),
      schema_(std::move(schema)),
      options_(options),
      write_dir_(dir_),
      encoder_(schema_, options.lz4_acceleration) {
  manifest_.schema = schema_;
}

DatasetWriter::~DatasetWriter() {
  RemoveUnfinished();
  // Releases the directory's flock; in a forked child the handler closed it already.
  if (lock_fd_ >= 0 && (!lock_tracked_ || UntrackLock(lock_fd_))) ::close(lock_fd_);
}

void DatasetWriter::RemoveUnfinished() {
  if (finished_) return;
  shard_.reset();  // its temporary file goes with it
  std::error_code ec;
  if (!staging_dir_.empty()) std::filesystem::remove_all(staging_dir_, ec);
  // An overwrite that never finished: the old dataset is untouched.
  if (write_dir_ != dir_) return;
  // Never finished (an error, or the caller gave up): without a manifest the shards written so
  // far are no dataset, and left behind they would sit beside the next one written here.
  // A manifest in place (written by a later writer, or ours before a failed directory fsync)
  // means the shards are a dataset's: never touch them.
  if (std::filesystem::exists(dir_ + "/" + std::string(kManifestFileName), ec)) return;
  for (std::size_t i = 0; i < manifest_.shards.size() && i < written_.size(); ++i) {
    // Only the very file this writer installed: a later writer may have replaced it by name.
    const std::string path = dir_ + "/" + manifest_.shards[i].file;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_dev == written_[i].first &&
        st.st_ino == written_[i].second) {
      ::unlink(path.c_str());
    }
  }
}

namespace {

constexpr std::string_view kStagingPrefix = ".shardmesh-staging-";


// Staging directories of overwrites whose writer process is gone (a crash mid-write).
void RemoveStaleStaging(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kStagingPrefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + kStagingPrefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
}

// Shard files (and their temporaries) in a directory without a manifest: what a writer killed
// before its Finish left (the lock is held, so no live writer owns them). Left in place, they
// sat beside the next dataset written there.
void RemoveOrphanShards(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    std::string_view rest(name);
    if (rest.size() > 4 && rest.substr(rest.size() - 4) == ".tmp") rest.remove_suffix(4);
    const bool shard =
        rest.size() > 10 && rest.substr(0, 6) == "shard-" &&
        rest.substr(rest.size() - 4) == ".smd" &&
        rest.substr(6, rest.size() - 10).find_first_not_of("0123456789") == std::string_view::npos;
    if (shard && entry.is_regular_file(ec)) std::filesystem::remove(entry.path(), ec);
  }
}

}  // namespace

Result<std::unique_ptr<DatasetWriter>> DatasetWriter::Create(const std::string& dir, Schema schema,
                                                             const DatasetWriterOptions& options) {
  if (options.target_block_bytes == 0 || options.target_block_bytes > (kMaxBlockRawBytes / 2)) {
    return Status::InvalidArgument("target_block_bytes must be in (0, 512 MiB]");
  }
  if (options.samples_per_shard == 0) {
    return Status::InvalidArgument("samples_per_shard must be positive");
  }
  if (schema.num_fields() == 0) return Status::InvalidArgument("schema has no fields");
  SHARDMESH_RETURN_IF_ERROR(CreateDirectories(dir));
  // One writer per directory: two gen/pack runs into one --out both reported success over a
  // dataset whose shards were a mix of the two (they share temporary file names). The lock is
  // a flock on the directory itself, so nothing is left behind, and it goes with its process.
  const int lock_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock_fd < 0) return Status::IOError("open " + dir + ": " + std::strerror(errno));
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(lock_fd);
    if (err == EWOULDBLOCK) {
      return Status::FailedPrecondition(dir +
                                        ": another writer (gen, pack or a DatasetWriter) is "
                                        "writing a dataset there");
    }
    return Status::IOError("flock " + dir + ": " + std::strerror(err));
  }
  struct Unlock {
    int fd;
    ~Unlock() {
      if (fd >= 0) ::close(fd);
    }
  } unlock{lock_fd};
  const std::string manifest_path = dir + "/" + std::string(kManifestFileName);
  std::error_code ec;
  std::vector<std::string> replaced;
  if (std::filesystem::exists(manifest_path, ec)) {
    if (!options.overwrite) {
      return Status::AlreadyExists(dir + " already holds a dataset (" + manifest_path + ")");
    }
    // Its shard files, so that Finish can remove those the new dataset does not reuse (a
    // damaged old manifest leaves its files to the user).
    if (auto old = Manifest::Load(dir); old.ok()) {
      for (const ShardEntry& e : old->shards) replaced.push_back(e.file);
    }
  } else {
    RemoveOrphanShards(dir);
  }
  std::unique_ptr<DatasetWriter> writer(new DatasetWriter(dir, std::move(schema), options));
  writer->lock_fd_ = std::exchange(unlock.fd, -1);
  writer->lock_tracked_ = TrackLock(writer->lock_fd_);
  writer->replaced_shards_ = std::move(replaced);
  if (options.overwrite) {
    // The new shards are staged beside the old dataset, which stays whole until Finish: an
    // input error half-way leaves it as it was.
    RemoveStaleStaging(dir);
    writer->staging_dir_ = dir + "/" + std::string(kStagingPrefix) + std::to_string(::getpid());
    writer->write_dir_ = writer->staging_dir_;
    std::filesystem::remove_all(writer->staging_dir_, ec);
    SHARDMESH_RETURN_IF_ERROR(CreateDirectories(writer->staging_dir_));
  }
  return writer;
}

Status DatasetWriter::EndSample() {
  if (finished_) return Status::FailedPrecondition(dir_ + ": writer already finished");
  SHARDMESH_RETURN_IF_ERROR(encoder_.EndSample());
  ++num_samples_;
  ++shard_samples_;
  if (encoder_.raw_size() >= options_.target_block_bytes) SHARDMESH_RETURN_IF_ERROR(FlushBlock());
  if (shard_samples_ >= options_.samples_per_shard) SHARDMESH_RETURN_IF_ERROR(FinishShard());
  return Status::OK();
}

Status DatasetWriter::FlushBlock() {
  if (encoder_.num_samples() == 0) return Status::OK();
  if (!shard_) {
    const auto index = static_cast<std::uint32_t>(manifest_.shards.size());
    SHARDMESH_ASSIGN_OR_RETURN(
        shard_, ShardWriter::Create(write_dir_ + "/" + ShardFileName(index), schema_.Digest(),
                                    schema_.label_index().has_value()));
  }
  SHARDMESH_ASSIGN_OR_RETURN(EncodedBlock block, encoder_.Finish());
  for (std::int64_t label : block.labels) ++manifest_.label_histogram[label];
  return shard_->AddBlock(block);
}

Status DatasetWriter::FinishShard() {
  SHARDMESH_RETURN_IF_ERROR(FlushBlock());
  if (!shard_) return Status::OK();
  SHARDMESH_ASSIGN_OR_RETURN(ShardSummary summary, shard_->Finish());
  shard_.reset();
  ShardEntry e;
  e.file = ShardFileName(static_cast<std::uint32_t>(manifest_.shards.size()));
  e.num_samples = summary.num_samples;
  e.first_sample = manifest_.num_samples;
  e.num_blocks = summary.num_blocks;
  e.bytes = summary.bytes;
  e.footer_checksum = summary.footer_checksum;
  e.file_checksum = summary.file_checksum;
  manifest_.num_samples += summary.num_samples;
  struct stat st {};
  if (::stat((write_dir_ + "/" + e.file).c_str(), &st) != 0) st = {};
  written_.emplace_back(st.st_dev, st.st_ino);
  manifest_.shards.push_back(std::move(e));
  shard_samples_ = 0;
  return Status::OK();
}

Status DatasetWriter::CloseShard() {
  if (finished_) return Status::FailedPrecondition(dir_ + ": writer already finished");
  if (encoder_.in_sample()) {
    return Status::FailedPrecondition(dir_ + ": CloseShard() inside a sample (EndSample() first)");
  }
  return FinishShard();
}

Result<Manifest> DatasetWriter::Finish() {
  if (finished_) return Status::FailedPrecondition(dir_ + ": writer already finished");
  if (encoder_.in_sample()) {
    return Status::FailedPrecondition(dir_ + ": Finish() inside a sample (EndSample() first)");
  }
  if (num_samples_ == 0) return Status::InvalidArgument(dir_ + ": no samples written");
  SHARDMESH_RETURN_IF_ERROR(FinishShard());
  if (write_dir_ != dir_) SHARDMESH_RETURN_IF_ERROR(InstallStaged());
  SHARDMESH_RETURN_IF_ERROR(SyncDirectory(dir_));
  SHARDMESH_RETURN_IF_ERROR(manifest_.Store(dir_));
  finished_ = true;
  for (const std::string& file : replaced_shards_) {
    const bool reused = std::any_of(manifest_.shards.begin(), manifest_.shards.end(),
                                    [&](const ShardEntry& e) { return e.file == file; });
    // Only plain names: an old manifest names files inside the directory.
    if (!reused && file.find('/') == std::string::npos) ::unlink((dir_ + "/" + file).c_str());
  }
  if (!staging_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(staging_dir_, ec);
  }
  return manifest_;
}

Status DatasetWriter::InstallStaged() {
  SHARDMESH_RETURN_IF_ERROR(SyncDirectory(write_dir_));
  // From here until the new manifest is stored the directory holds no dataset (visibly
  // incomplete) rather than an old manifest describing shards that are being replaced.
  const std::string manifest_path = dir_ + "/" + std::string(kManifestFileName);
  std::error_code ec;
  std::filesystem::remove(manifest_path, ec);
  if (ec) return Status::IOError("remove " + manifest_path + ": " + ec.message());
  for (const ShardEntry& e : manifest_.shards) {
    const std::string from = write_dir_ + "/" + e.file;
    const std::string to = dir_ + "/" + e.file;
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Status::IOError("rename " + from + " to " + to + ": " + std::strerror(errno));
    }
  }
  write_dir_ = dir_;  // the shards now live there
  return Status::OK();
}

}  // namespace shardmesh::loader
