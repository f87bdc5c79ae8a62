// Small POSIX file helpers with Status errors that name the path.
//
// RandomAccessFile is move-only, owns its descriptor, and is safe to share between threads
// for concurrent ReadAt calls (pread has no shared offset). The free functions are
// thread-safe as far as the file system is.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shardmesh/common/status.h"

namespace shardmesh {

class RandomAccessFile {
 public:
  // Opens `path` read-only. NotFound when it does not exist, IOError otherwise.
  static Result<RandomAccessFile> Open(const std::string& path);

  RandomAccessFile() = default;
  ~RandomAccessFile();
  RandomAccessFile(RandomAccessFile&& other) noexcept;
  RandomAccessFile& operator=(RandomAccessFile&& other) noexcept;
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  // Reads exactly out.size() bytes at `offset`. Corruption("... truncated") when the file
  // ends first, IOError on a read error.
  Status ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) const;
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Closes the descriptor; safe to call twice.
  void Close();

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string path_;
};

// Reads a whole file.
Result<std::string> ReadFileToString(const std::string& path);

// OK when a file may be written at `path` by replacing it: InvalidArgument for an empty path
// or one that exists and is not a regular file (a device, directory, FIFO or symlink is never
// replaced); NotFound when its directory does not exist.
Status CheckReplaceable(const std::string& path);

// Writes `data` to `path` so that a crash leaves either the old file or the new one, never a
// mix: write to a temporary file in the same directory, fsync it, rename it over `path`, fsync
// the directory. InvalidArgument for an empty path or one that exists and is not a regular file
// (a device, directory, FIFO or symlink is never replaced).
Status WriteFileAtomically(const std::string& path, std::string_view data);

// Creates `dir` and its parents if missing.
Status CreateDirectories(const std::string& dir);

// fsyncs a directory, so a rename or create inside it survives a crash.
Status SyncDirectory(const std::string& dir);

// Human text for errno values, e.g. "No such file or directory".
std::string ErrnoText(int err);

}  // namespace shardmesh
