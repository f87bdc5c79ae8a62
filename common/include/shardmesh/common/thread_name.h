// Names the calling thread for top -H, perf, gdb and /proc/PID/task/*/comm ("sm-" prefix by
// convention). Linux limits names to 15 bytes; longer names are cut. Best effort: failures
// are ignored, as a name never changes behaviour.
#pragma once

#include <string_view>

namespace shardmesh {

void SetCurrentThreadName(std::string_view name);

}  // namespace shardmesh
