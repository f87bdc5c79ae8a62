// Child processes for integration tests and end-to-end benchmark drivers: spawn, signal and reap by PID, with bounded waits.
// A ChildProcess kills (SIGKILL) and reaps its process on destruction, so a failing test never
// leaves workers behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace shardmesh::testing {

class ChildProcess {
 public:
  // Starts `argv` with stdout and stderr appended to `log_path`. On failure pid() is -1 and
  // the reason is printed on stderr.
  ChildProcess(std::vector<std::string> argv, std::string log_path);
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig) const;
  // Waits up to `timeout` for exit; the exit code (or 128 + signal), nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool running();
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> exit_code_;
};

// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// A temporary directory removed at destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range when
// it can (so outgoing connections cannot take it before the process that is given it binds).
int FreeLoopbackPort();

void WriteTextFile(const std::string& path, const std::string& text);

}  // namespace shardmesh::testing
