// ForkGuard: refuses use of a threaded object in a process forked from its creator.
//
// A Loader or MeshLoader runs C++ threads (prefetch, gossip, exchange); fork() copies the
// object into the child but not its threads, so a call there waits forever for a thread that
// does not exist (a Loader created before multiprocessing forked hung in the child), and a
// destructor there would join such threads. Each method checks first (before taking any lock:
// a mutex held by another thread at the fork stays locked in the child) and raises a
// FailedPreconditionError that says what to do; the destructor leaks the object in the child.
//
// Thread-safety: immutable after construction.
#pragma once

#include <unistd.h>

#include <string>

#include "errors.h"

namespace shardmesh::python {

class ForkGuard {
 public:
  explicit ForkGuard(std::string what) : what_(std::move(what)), creator_(::getpid()) {}

  bool InCreator() const { return ::getpid() == creator_; }

  // Raises FailedPreconditionError when called in a process other than the creator.
  void Check() const {
    if (InCreator()) return;
    ThrowStatus(Status::FailedPrecondition(
        what_ + " was created in process " + std::to_string(creator_) + " and used in process " +
        std::to_string(::getpid()) +
        " forked from it; its threads do not survive fork(): create it in the process that "
        "uses it (for DataLoader workers, in the dataset's __iter__)"));
  }

 private:
  std::string what_;
  pid_t creator_;
};

}  // namespace shardmesh::python
