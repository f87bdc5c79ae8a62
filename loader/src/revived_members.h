// Members a mesh-loader worker declared dead but sees running again.
//
// A worker adds every epoch member the membership shows not live to its `dead` set, and takes
// their partitions over when it has a quorum. A verdict can be mistaken: a peer healing from a
// partition gossips stale ones, a frozen member wakes up. One this worker has acted on (it ran
// the takeover with the member dead while it had a quorum) stays: the raised terms cannot be
// taken back, and the member learns it was evicted. One it never acted on is forgotten once the
// member is live again, so it keeps its partitions; taking them once a quorum came back moved
// the partitions of a member known to be running.
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace shardmesh::loader::internal {

// Removes from `dead` the members that are in `live` and not in `acted_on`; returns them.
inline std::vector<std::string> ForgetRevived(std::set<std::string>& dead,
                                              const std::set<std::string>& acted_on,
                                              const std::set<std::string>& live) {
  std::vector<std::string> revived;
  for (auto it = dead.begin(); it != dead.end();) {
    if (live.count(*it) != 0 && acted_on.count(*it) == 0) {
      revived.push_back(*it);
      it = dead.erase(it);
    } else {
      ++it;
    }
  }
  return revived;
}

}  // namespace shardmesh::loader::internal
