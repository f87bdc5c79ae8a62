#include "shardmesh/loader/streaming_loader.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "prefetcher.h"
#include "shardmesh/common/clock.h"
#include "shardmesh/common/fork_generation.h"
#include "shardmesh/loader/dataset.h"

namespace shardmesh::loader {

struct StreamingLoader::Impl {
  std::shared_ptr<const Dataset> dataset;
  StreamingConfig config;
  DatasetLayout layout;
  std::uint64_t digest = 0;

  // Current epoch's plan.
  std::uint64_t epoch = 0;
  RankPlan plan;
  std::vector<std::uint32_t> partition_of_block;
  std::uint64_t plan_blocks = 0;
  double ideal_blocks = 0;

  // Schedule of the positions [start, Len()): the slot of every position, and whether the
  // position is its slot's last use. A slot is one block within one segment of the sequence
  // (own, received, padding), so a block needed again at the end (padding) is read again
  // rather than held all epoch.
  std::uint64_t start = 0;
  std::uint64_t pos = 0;
  std::vector<std::uint32_t> slot_of;
  std::vector<std::uint8_t> last_use;
  std::vector<std::shared_ptr<const DecodedBlock>> held;  // by slot, consumer side
  internal::PrefetchCounters counters;
  std::unique_ptr<internal::Prefetcher> prefetcher;
  std::uint32_t decode_threads = 0;  // background decoders of the current prefetcher
  // The process's fork count when the loader was created: in a forked child its decode
  // threads do not exist, so waiting for them would hang (Forked()).
  const std::uint64_t fork_generation = ForkGeneration();
  bool Forked() const { return decode_threads > 0 && fork_generation != ForkGeneration(); }
  static Status ForkedError() {
    return Status::FailedPrecondition(
        "streaming loader used in a process forked from the one that created it: its decode "
        "threads do not survive fork(); create the loader after the fork (e.g. in each "
        "DataLoader worker)");
  }
  Status failed;
  Status iteration_status;

  // Consumer-side counters.
  std::uint64_t samples_loaded = 0;
  std::uint64_t prefetch_hits = 0;
  std::uint64_t prefetch_misses = 0;
  std::uint64_t wait_nanos = 0;
  std::uint64_t checkpoints_taken = 0;
  std::optional<checkpoint::StreamState> last_auto;

  // Per-partition cursors, advanced lazily up to cursor_pos when a checkpoint is taken.
  mutable std::vector<std::uint64_t> cursor_counts;
  mutable std::uint64_t cursor_pos = 0;

  // One epoch's plan for this rank, built before anything of the loader changes.
  struct EpochPlan {
    std::uint64_t epoch = 0;
    RankPlan plan;
    std::vector<std::uint32_t> partition_of_block;
    std::uint32_t num_partitions = 0;
    double ideal_blocks = 0;
  };

  Result<EpochPlan> MakePlan(std::uint64_t new_epoch) const {
    PlanOptions options = config.plan_options();
    options.epoch = new_epoch;
    SHARDMESH_ASSIGN_OR_RETURN(PartitionPlan all,
                               BuildPartitionPlan(layout, dataset->labels(), options));
    EpochPlan e;
    e.epoch = new_epoch;
    e.plan = std::move(all.ranks[options.rank]);
    e.partition_of_block = std::move(all.partition_of_block);
    e.num_partitions = all.num_partitions;
    e.ideal_blocks = static_cast<double>(all.num_blocks) / options.world_size;
    return e;
  }

  void Install(EpochPlan e) {
    epoch = e.epoch;
    plan = std::move(e.plan);
    partition_of_block = std::move(e.partition_of_block);
    plan_blocks = plan.blocks_touched;
    ideal_blocks = e.ideal_blocks;
    cursor_counts.assign(e.num_partitions, 0);
    cursor_pos = 0;
  }

  // Per-partition counts of the first `position` samples of `p`'s sequence.
  // Per-partition counts of the first `position` samples of `sequence`.
  std::vector<std::uint64_t> CursorsAt(const std::vector<std::uint64_t>& sequence,
                                       const std::vector<std::uint32_t>& partition_of,
                                       std::uint32_t num_partitions,
                                       std::uint64_t position) const {
    std::vector<std::uint64_t> counts(num_partitions, 0);
    for (std::uint64_t i = 0; i < position; ++i) {
      ++counts[partition_of[layout.BlockOfSample(sequence[i])]];
    }
    return counts;
  }

  void StartAt(std::uint64_t position) {
    prefetcher.reset();  // joins the previous epoch's workers
    held.clear();
    failed = Status::OK();
    start = position;
    pos = position;
    const auto& seq = plan.sequence;
    const std::uint64_t n = seq.size() - position;
    slot_of.assign(n, 0);
    last_use.assign(n, 0);
    std::vector<std::uint32_t> slot_blocks;
    std::vector<std::uint32_t> slot_of_block(layout.num_blocks(), UINT32_MAX);
    const std::uint64_t own_end = plan.own_samples;
    const std::uint64_t received_end = own_end + plan.received_samples;
    int segment = -1;
    for (std::uint64_t i = position; i < seq.size(); ++i) {
      const int seg = i < own_end ? 0 : (i < received_end ? 1 : 2);
      if (seg != segment) {
        segment = seg;
        std::fill(slot_of_block.begin(), slot_of_block.end(), UINT32_MAX);
      }
      const std::uint32_t b = layout.BlockOfSample(seq[i]);
      if (slot_of_block[b] == UINT32_MAX) {
        slot_of_block[b] = static_cast<std::uint32_t>(slot_blocks.size());
        slot_blocks.push_back(b);
      }
      slot_of[i - position] = slot_of_block[b];
    }
    std::vector<std::uint8_t> seen(slot_blocks.size(), 0);
    for (std::uint64_t i = n; i-- > 0;) {
      if (!seen[slot_of[i]]) {
        seen[slot_of[i]] = 1;
        last_use[i] = 1;
      }
    }
    held.resize(slot_blocks.size());
    if (slot_blocks.empty()) return;
    internal::PrefetchOptions options;
    // A background decoder cannot run beside a consumer confined to one CPU: it would only
    // add context switches and evict the consumer's cache. The consumer then decodes each
    // block itself when it first needs it.
    options.threads = internal::AllowedCpuCount() == 1 ? 0 : config.prefetch_threads();
    decode_threads = options.threads;
    options.max_ahead_blocks = config.prefetch_blocks();
    options.max_bytes = config.prefetch_bytes();
    prefetcher =
        std::make_unique<internal::Prefetcher>(dataset, std::move(slot_blocks), options, &counters);
  }

  checkpoint::StreamState Checkpoint() const {
    const PlanOptions& o = config.plan_options();
    if (cursor_pos > pos) {
      std::fill(cursor_counts.begin(), cursor_counts.end(), 0);
      cursor_pos = 0;
    }
    for (; cursor_pos < pos; ++cursor_pos) {
      ++cursor_counts[partition_of_block[layout.BlockOfSample(plan.sequence[cursor_pos])]];
    }
    checkpoint::StreamState s;
    s.epoch = epoch;
    s.seed = o.seed;
    s.world_size = o.world_size;
    s.rank = o.rank;
    s.position = pos;
    s.sequence_length = plan.sequence.size();
    s.plan_digest = digest;
    s.timestamp_ms = SystemClock::Instance().WallMillis();
    s.strategy = static_cast<std::uint32_t>(o.strategy);
    for (std::uint32_t p = 0; p < cursor_counts.size(); ++p) {
      if (cursor_counts[p] > 0) s.cursors.push_back({p, cursor_counts[p]});
    }
    return s;
  }
};

StreamingLoader::StreamingLoader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamingLoader::~StreamingLoader() {
  // In a forked child, joining threads that exist only in the parent is undefined (and the
  // locks they held stay locked): the child leaks its copy instead.
  if (impl_ && impl_->Forked()) (void)impl_.release();
}

Result<std::unique_ptr<StreamingLoader>> StreamingLoader::Create(
    std::shared_ptr<const Dataset> dataset, StreamingConfig config) {
  if (!dataset) return Status::InvalidArgument("dataset is null");
  SHARDMESH_RETURN_IF_ERROR(config.Validate(*dataset));
  auto impl = std::make_unique<Impl>();
  impl->dataset = std::move(dataset);
  SHARDMESH_ASSIGN_OR_RETURN(impl->layout, MakeDatasetLayout(*impl->dataset));
  impl->digest = PlanDigest(impl->layout, config.plan_options());
  impl->config = std::move(config);
  SHARDMESH_ASSIGN_OR_RETURN(Impl::EpochPlan first,
                             impl->MakePlan(impl->config.plan_options().epoch));
  impl->Install(std::move(first));
  impl->StartAt(0);
  return std::unique_ptr<StreamingLoader>(new StreamingLoader(std::move(impl)));
}

Result<std::optional<Sample>> StreamingLoader::Next() {
  Impl& m = *impl_;
  if (!m.failed.ok()) return m.failed;
  // Per sample, not only per block: releasing a held block takes the prefetcher's mutex, which
  // a decode thread of the parent may have held at the fork (one relaxed load).
  if (m.Forked()) return m.failed = Impl::ForkedError();
  if (m.pos >= m.plan.sequence.size()) return std::optional<Sample>();
  const std::uint64_t i = m.pos - m.start;
  const std::uint32_t slot = m.slot_of[i];
  auto& block = m.held[slot];
  if (!block) {
    bool hit = false;
    const auto t0 = std::chrono::steady_clock::now();
    auto acquired = m.prefetcher->Acquire(slot, &hit);
    m.wait_nanos += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    ++(hit ? m.prefetch_hits : m.prefetch_misses);
    if (!acquired.ok()) {
      m.failed = acquired.status();
      return m.failed;
    }
    block = std::move(acquired).value();
  }
  const std::uint64_t s = m.plan.sequence[m.pos];
  Sample out{block, block->sample(static_cast<std::size_t>(s - block->first_sample()))};
  if (m.last_use[i]) {
    block.reset();
    m.prefetcher->Release(slot);
  }
  ++m.pos;
  ++m.samples_loaded;
  const std::uint64_t interval = m.config.checkpoint_interval();
  if (interval > 0 && m.pos % interval == 0) {
    m.last_auto = m.Checkpoint();
    ++m.checkpoints_taken;
  }
  return std::optional<Sample>(std::move(out));
}

Result<std::vector<Sample>> StreamingLoader::NextBatch(std::size_t n) {
  if (!impl_->failed.ok()) return impl_->failed;  // also for n == 0: not the epoch's end
  std::vector<Sample> batch;
  batch.reserve(std::min<std::uint64_t>(n, Len() - position()));
  while (batch.size() < n) {
    Result<std::optional<Sample>> s = Next();
    if (!s.ok()) {
      // The samples taken so far are delivered (position() counts them); the error, which
      // stays until Reset or RestoreFromCheckpoint, comes with the next call.
      if (!batch.empty()) break;
      return s.status();
    }
    if (!s->has_value()) break;
    batch.push_back(std::move(**s));
  }
  return batch;
}

Status StreamingLoader::Reset(std::uint64_t epoch) {
  if (impl_->Forked()) return Impl::ForkedError();
  Result<Impl::EpochPlan> built = impl_->MakePlan(epoch);
  // On failure the previous plan is kept and restarted, so the loader stays usable.
  if (built.ok()) impl_->Install(std::move(built).value());
  impl_->last_auto.reset();  // a tick of the epoch left behind is stale
  impl_->StartAt(0);
  SHARDMESH_RETURN_IF_ERROR(built.status());
  impl_->iteration_status = Status::OK();
  return Status::OK();
}

std::uint64_t StreamingLoader::Len() const { return impl_->plan.sequence.size(); }
std::uint32_t StreamingLoader::decode_threads() const { return impl_->decode_threads; }
std::uint64_t StreamingLoader::position() const { return impl_->pos; }
std::uint64_t StreamingLoader::epoch() const { return impl_->epoch; }
const RankPlan& StreamingLoader::plan() const { return impl_->plan; }

LoaderStats StreamingLoader::stats() const {
  const Impl& m = *impl_;
  LoaderStats s;
  s.samples_loaded = m.samples_loaded;
  s.local_samples = m.samples_loaded;
  s.prefetch_hits = m.prefetch_hits;
  s.prefetch_misses = m.prefetch_misses;
  if (m.samples_loaded > 0) {
    s.average_load_time = std::chrono::nanoseconds(m.wait_nanos / m.samples_loaded);
  }
  s.blocks_decoded = m.counters.blocks_decoded.load(std::memory_order_relaxed);
  s.bytes_read = m.counters.bytes_read.load(std::memory_order_relaxed);
  s.bytes_decompressed = m.counters.bytes_decompressed.load(std::memory_order_relaxed);
  if (s.blocks_decoded > 0) {
    s.average_block_decode_time = std::chrono::nanoseconds(
        m.counters.decode_nanos.load(std::memory_order_relaxed) / s.blocks_decoded);
  }
  s.checkpoints_taken = m.checkpoints_taken;
  s.peak_bytes_held = m.counters.peak_bytes_held.load(std::memory_order_relaxed);
  s.plan_blocks = m.plan_blocks;
  s.ideal_blocks = m.ideal_blocks;
  s.decode_amplification = m.ideal_blocks > 0 ? m.plan_blocks / m.ideal_blocks : 0;
  s.received_samples = m.plan.received_samples;
  s.padding_samples = m.plan.padding_samples;
  return s;
}

checkpoint::StreamState StreamingLoader::GetCheckpoint() const { return impl_->Checkpoint(); }

Status StreamingLoader::RestoreFromCheckpoint(const checkpoint::StreamState& state) {
  Impl& m = *impl_;
  if (m.Forked()) return Impl::ForkedError();
  const PlanOptions& o = m.config.plan_options();
  auto mismatch = [](const char* field, std::uint64_t got, std::uint64_t want) {
    return Status::InvalidArgument("checkpoint " + std::string(field) + " " + std::to_string(got) +
                                   " does not match this loader's " + std::to_string(want));
  };
  if (state.world_size != o.world_size) {
    return mismatch("world_size", state.world_size, o.world_size);
  }
  if (state.rank != o.rank) return mismatch("rank", state.rank, o.rank);
  if (state.seed != o.seed) return mismatch("seed", state.seed, o.seed);
  // The fields a checkpoint names come before the digest, which cannot say which part differs.
  if (state.version != checkpoint::kStreamStateVersion) {
    return mismatch("version", state.version, checkpoint::kStreamStateVersion);
  }
  if (state.strategy != static_cast<std::uint32_t>(o.strategy)) {
    return mismatch("strategy", state.strategy, static_cast<std::uint32_t>(o.strategy));
  }
  if (state.plan_digest != m.digest) {
    return Status::InvalidArgument(
        "checkpoint plan digest does not match this loader's (dataset, partitions, shuffle "
        "window, drop policy, ranges or throughputs differ)");
  }
  // Everything is checked against the checkpoint's epoch before the loader changes: a refused
  // checkpoint leaves the epoch, the position and the prefetch as they were.
  // Another epoch's plan is built aside; the current one is checked in place (no copy).
  std::optional<Impl::EpochPlan> other;
  if (state.epoch != m.epoch || m.plan.sequence.empty()) {
    SHARDMESH_ASSIGN_OR_RETURN(other, m.MakePlan(state.epoch));
  }
  const std::vector<std::uint64_t>& sequence = other ? other->plan.sequence : m.plan.sequence;
  const std::vector<std::uint32_t>& partition_of =
      other ? other->partition_of_block : m.partition_of_block;
  const auto num_partitions =
      other ? other->num_partitions : static_cast<std::uint32_t>(m.cursor_counts.size());
  const std::uint64_t length = sequence.size();
  if (state.sequence_length != length) {
    return mismatch("sequence_length", state.sequence_length, length);
  }
  if (state.position > length) {
    return Status::InvalidArgument("checkpoint position " + std::to_string(state.position) +
                                   " is past the end of this loader's sequence of " +
                                   std::to_string(length));
  }
  // The cursors must be those of the position: a state whose parts disagree was damaged or
  // assembled by hand, and resuming it would replay or skip samples.
  std::vector<std::uint64_t> counts =
      m.CursorsAt(sequence, partition_of, num_partitions, state.position);
  std::vector<checkpoint::PartitionCursor> expected;
  for (std::uint32_t p = 0; p < counts.size(); ++p) {
    if (counts[p] > 0) expected.push_back({p, counts[p]});
  }
  if (state.cursors != expected) {
    return Status::InvalidArgument("checkpoint cursors do not match its position " +
                                   std::to_string(state.position) + " (" +
                                   std::to_string(state.cursors.size()) +
                                   " partition cursors, the position gives " +
                                   std::to_string(expected.size()) + ")");
  }
  m.prefetcher.reset();
  if (other) m.Install(std::move(*other));
  m.last_auto.reset();  // a tick of the position left behind
  m.cursor_counts = std::move(counts);
  m.cursor_pos = state.position;
  m.StartAt(state.position);
  m.iteration_status = Status::OK();
  return Status::OK();
}

std::optional<checkpoint::StreamState> StreamingLoader::LastAutoCheckpoint() const {
  return impl_->last_auto;
}

const Status& StreamingLoader::status() const { return impl_->iteration_status; }

void StreamingLoader::Iterator::Fetch() const {
  if (fetched_ || loader_ == nullptr) return;
  fetched_ = true;
  auto next = loader_->Next();
  if (!next.ok()) {
    loader_->impl_->iteration_status = next.status();
    current_.reset();
  } else {
    current_ = std::move(next).value();
  }
}

StreamingLoader::Iterator& StreamingLoader::Iterator::operator++() {
  Fetch();  // the sample at this position, looked at or not, is passed
  fetched_ = false;
  current_.reset();
  return *this;
}

}  // namespace shardmesh::loader
