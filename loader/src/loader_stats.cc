#include "shardmesh/loader/loader_stats.h"

#include <cstdio>

namespace shardmesh::loader {

std::string LoaderStats::ToString() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "samples=%llu local=%llu remote=%llu prefetch_hits=%llu prefetch_misses=%llu "
                "avg_load_ns=%lld avg_block_decode_us=%.1f bytes_read=%llu bytes_decompressed=%llu "
                "blocks_decoded=%llu peak_mib_held=%.1f checkpoints=%llu plan_blocks=%llu "
                "decode_amplification=%.2f "
                "received=%llu padding=%llu",
                static_cast<unsigned long long>(samples_loaded),
                static_cast<unsigned long long>(local_samples),
                static_cast<unsigned long long>(remote_samples),
                static_cast<unsigned long long>(prefetch_hits),
                static_cast<unsigned long long>(prefetch_misses),
                static_cast<long long>(average_load_time.count()),
                static_cast<double>(average_block_decode_time.count()) / 1e3,
                static_cast<unsigned long long>(bytes_read),
                static_cast<unsigned long long>(bytes_decompressed),
                static_cast<unsigned long long>(blocks_decoded),
                static_cast<double>(peak_bytes_held) / (1 << 20),
                static_cast<unsigned long long>(checkpoints_taken),
                static_cast<unsigned long long>(plan_blocks), decode_amplification,
                static_cast<unsigned long long>(received_samples),
                static_cast<unsigned long long>(padding_samples));
  return buf;
}

}  // namespace shardmesh::loader
