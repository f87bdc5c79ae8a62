#include "shardmesh/common/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <string>

namespace shardmesh {

void SetCurrentThreadName(std::string_view name) {
  const std::string cut(name.substr(0, std::min<std::size_t>(name.size(), 15)));
  (void)pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace shardmesh
