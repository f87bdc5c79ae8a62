#include "shardmesh/checkpoint/checkpoint_store.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include "checkpoint_io.h"
#include "shardmesh/common/file.h"

namespace shardmesh::checkpoint {
namespace {

constexpr std::string_view kSuffix = ".ckpt";
constexpr std::size_t kSequenceDigits = 20;  // UINT64_MAX has 20 digits

bool ValidPrefix(const std::string& prefix) {
  if (prefix.empty()) return false;
  return std::all_of(prefix.begin(), prefix.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// The sequence of a "<prefix>-<20 digits>.ckpt" name, nullopt for any other name.
std::optional<std::uint64_t> ParseName(std::string_view name, const std::string& prefix) {
  if (name.size() != prefix.size() + 1 + kSequenceDigits + kSuffix.size()) return std::nullopt;
  if (name.substr(0, prefix.size()) != prefix || name[prefix.size()] != '-') return std::nullopt;
  if (name.substr(name.size() - kSuffix.size()) != kSuffix) return std::nullopt;
  const std::string_view digits = name.substr(prefix.size() + 1, kSequenceDigits);
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;  // beyond UINT64_MAX
    v = v * 10 + d;
  }
  return v;
}

bool IsOwnTempName(std::string_view name, const std::string& prefix) {
  return name.size() > prefix.size() + 1 && name.substr(0, prefix.size()) == prefix &&
         name[prefix.size()] == '-' &&
         name.find(std::string(kSuffix) + internal::kTempInfix) != std::string_view::npos;
}

}  // namespace

struct CheckpointStore::SaveState {
  std::mutex mu;
  std::optional<std::uint64_t> last_saved;  // guarded by mu
};

CheckpointStore::CheckpointStore(std::string dir, CheckpointStoreOptions options)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      save_state_(std::make_unique<SaveState>()) {}
CheckpointStore::CheckpointStore(CheckpointStore&&) noexcept = default;
CheckpointStore& CheckpointStore::operator=(CheckpointStore&&) noexcept = default;
CheckpointStore::~CheckpointStore() = default;

Result<CheckpointStore> CheckpointStore::Create(std::string dir, CheckpointStoreOptions options) {
  if (dir.empty()) return Status::InvalidArgument("checkpoint store: empty directory");
  if (!ValidPrefix(options.prefix)) {
    return Status::InvalidArgument("checkpoint store " + dir + ": bad prefix '" + options.prefix +
                                   "' (letters, digits, '_', '.', '-')");
  }
  if (options.keep_last == 0) {
    return Status::InvalidArgument("checkpoint store " + dir + ": keep_last must be >= 1");
  }
  SHARDMESH_RETURN_IF_ERROR(CreateDirectories(dir));
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Status::IOError("list checkpoint directory " + dir + ": " + ec.message());
  // increment(ec), not range-for: the range-for increment throws on a listing error.
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::filesystem::path& entry = it->path();
    if (!IsOwnTempName(entry.filename().string(), options.prefix)) continue;
    // Only a crashed writer leaves these: this (dir, prefix) has one writer, and it is us.
    if (::unlink(entry.c_str()) == 0) {
      spdlog::info("checkpoint store: removed stale temporary file {}", entry.string());
    } else {
      spdlog::warn("checkpoint store: cannot remove stale temporary file {}: {}", entry.string(),
                   ErrnoText(errno));
    }
  }
  if (ec) return Status::IOError("list checkpoint directory " + dir + ": " + ec.message());
  return CheckpointStore(std::move(dir), std::move(options));
}

std::string CheckpointStore::PathFor(std::uint64_t sequence) const {
  char digits[kSequenceDigits + 1];
  std::snprintf(digits, sizeof(digits), "%020llu", static_cast<unsigned long long>(sequence));
  return (std::filesystem::path(dir_) / (options_.prefix + "-" + digits + std::string(kSuffix)))
      .string();
}

Result<std::vector<CheckpointFileInfo>> CheckpointStore::List() const {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) return Status::IOError("list checkpoint directory " + dir_ + ": " + ec.message());
  std::vector<CheckpointFileInfo> files;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const auto seq = ParseName(it->path().filename().string(), options_.prefix);
    if (!seq) continue;
    std::error_code size_ec;
    const std::uint64_t size = std::filesystem::file_size(it->path(), size_ec);
    if (size_ec) continue;  // pruned since the listing, or not a regular file
    files.push_back({*seq, it->path().string(), size});
  }
  if (ec) return Status::IOError("list checkpoint directory " + dir_ + ": " + ec.message());
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
  return files;
}

Status CheckpointStore::Save(std::uint64_t sequence, ByteView payload) {
  SHARDMESH_RETURN_IF_ERROR(Write(sequence, payload));
  Prune();
  return Status::OK();
}

Status CheckpointStore::Write(std::uint64_t sequence, ByteView payload) {
  std::lock_guard<std::mutex> lock(save_state_->mu);
  if (save_state_->last_saved && sequence < *save_state_->last_saved) {
    return Status::InvalidArgument(
        "checkpoint store " + dir_ + ": sequence " + std::to_string(sequence) + " is below " +
        std::to_string(*save_state_->last_saved) + ", saved before; sequences must not decrease");
  }
  SHARDMESH_RETURN_IF_ERROR(
      internal::WriteCheckpointFileAtomically(dir_, PathFor(sequence), sequence, payload));
  save_state_->last_saved = sequence;
  return Status::OK();
}

void CheckpointStore::Prune() {
  std::lock_guard<std::mutex> lock(save_state_->mu);
  if (!save_state_->last_saved) return;
  const std::uint64_t just_saved = *save_state_->last_saved;
  auto files = List();
  if (!files.ok()) {
    spdlog::warn("checkpoint store: not pruning: {}", files.status().ToString());
    return;
  }
  const std::size_t keep = options_.keep_last;
  if (!files->empty() && files->back().sequence > just_saved) {
    spdlog::warn(
        "checkpoint store: saved {} but {} holds a newer checkpoint {} (from an earlier run?); "
        "LoadLatest prefers it while it validates",
        PathFor(just_saved), dir_, files->back().path);
  }
  if (files->size() <= keep) return;
  for (std::size_t i = 0; i + keep < files->size(); ++i) {
    const CheckpointFileInfo& f = (*files)[i];
    if (f.sequence == just_saved) continue;  // never delete what the caller just saved
    if (::unlink(f.path.c_str()) != 0 && errno != ENOENT) {
      spdlog::warn("checkpoint store: cannot delete old checkpoint {}: {}", f.path,
                   ErrnoText(errno));
    }
  }
}

Result<StoredCheckpoint> CheckpointStore::LoadLatest(
    const std::function<Status(const StoredCheckpoint&)>& accept) const {
  SHARDMESH_ASSIGN_OR_RETURN(const std::vector<CheckpointFileInfo> files, List());
  std::size_t invalid = 0;
  for (auto f = files.rbegin(); f != files.rend(); ++f) {
    auto read = internal::ReadCheckpointFile(f->path);
    if (!read.ok() && read.status().IsNotFound()) continue;  // pruned since the listing
    Status fault = read.status();
    if (read.ok() && read->sequence != f->sequence) {
      fault =
          Status::Corruption(f->path + ": header says sequence " + std::to_string(read->sequence) +
                             ", the name says " + std::to_string(f->sequence));
    }
    StoredCheckpoint out;
    if (fault.ok()) {
      out.sequence = f->sequence;
      out.payload = std::move(read->payload);
      out.path = f->path;
      if (accept) fault = accept(out).WithContext(f->path);
    }
    if (fault.ok()) return out;
    ++invalid;
    // Every fault message names the file. A file that is valid but refused by `accept` (e.g.
    // another plan's) is skipped as not usable here, not reported as damaged.
    spdlog::warn("checkpoint store: skipping {} checkpoint: {}",
                 fault.code() == StatusCode::kFailedPrecondition ? "unusable" : "invalid",
                 fault.ToString());
  }
  return Status::NotFound("no valid checkpoint '" + options_.prefix + "-*" + std::string(kSuffix) +
                          "' in " + dir_ + " (" + std::to_string(files.size()) + " files, " +
                          std::to_string(invalid) + " invalid)");
}

}  // namespace shardmesh::checkpoint
