// StreamingLoader: the static-mode data loader. Delivers this rank's share of each epoch
// (partition_plan.h) as zero-copy samples, decoding whole blocks ahead of the consumer in
// background threads within a memory budget (streaming_config.h).
//
//   SHARDMESH_ASSIGN_OR_RETURN(auto loader, StreamingLoader::Create(dataset, config));
//   for (const Sample& s : *loader) Train(s);
//   SHARDMESH_RETURN_IF_ERROR(loader->status());
//
// Checkpoints are cursors (checkpoint/stream_state.h): GetCheckpoint() at any point, and a new
// loader with the same dataset and config resumes exactly where it stopped after
// RestoreFromCheckpoint().
//
// Thread-safety: one consumer thread per loader; every method (including stats()) must be
// called from it. The loader's own threads are internal; destroying the loader at any point
// (mid-epoch included) stops and joins them. fork(): a loader with decode threads, used in a
// process forked from its creator, returns FailedPrecondition from Next/Reset/
// RestoreFromCheckpoint (its threads do not exist there; it used to hang), and its destructor
// there leaks it rather than join them. Create loaders after the fork.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/loader_stats.h"
#include "shardmesh/loader/partition_plan.h"
#include "shardmesh/loader/sample.h"
#include "shardmesh/loader/streaming_config.h"

namespace shardmesh::loader {

class Dataset;

// One delivered sample: keeps its decoded block alive, so `view` (and every field, tensor and
// string view taken from it) stays valid as long as the Sample does. Copying shares the block.
struct Sample {
  std::shared_ptr<const DecodedBlock> block;
  SampleView view;

  std::uint64_t global_index() const { return view.global_index(); }
};

class StreamingLoader {
 public:
  // Validates `config` against `dataset` (InvalidArgument naming the field), builds the plan
  // of config's epoch and starts prefetching.
  static Result<std::unique_ptr<StreamingLoader>> Create(std::shared_ptr<const Dataset> dataset,
                                                         StreamingConfig config);
  ~StreamingLoader();
  StreamingLoader(const StreamingLoader&) = delete;
  StreamingLoader& operator=(const StreamingLoader&) = delete;

  // The next sample of this rank's sequence, or nullopt at the end of the epoch. A block that
  // cannot be read (I/O error, corruption) is returned as its Status, naming the shard file and
  // block; the loader then stays failed until Reset or RestoreFromCheckpoint.
  Result<std::optional<Sample>> Next();
  // Up to `n` samples (fewer at the end of the epoch, none after it). An error after some
  // samples of the batch were taken returns those samples (position() counts them, so a
  // checkpoint never skips them) and the next call returns the error, as Next() does.
  Result<std::vector<Sample>> NextBatch(std::size_t n);

  // Starts epoch `epoch` from its beginning: new plan, prefetch restarted. InvalidArgument
  // only if the plan cannot be built (does not happen for a config that was valid).
  Status Reset(std::uint64_t epoch);

  // Samples this rank delivers in the current epoch (all of them, delivered or not).
  std::uint64_t Len() const;
  // Samples of the current epoch already delivered.
  std::uint64_t position() const;
  std::uint64_t epoch() const;
  // This rank's plan for the current epoch.
  const RankPlan& plan() const;
  LoaderStats stats() const;
  // Background decode threads in use: config.prefetch_threads(), or 0 when the thread that
  // last started the epoch's reading (Create, Reset, RestoreFromCheckpoint) may run on one CPU
  // only: the consumer then decodes each block itself when it first needs it.
  std::uint32_t decode_threads() const;

  // The stream state now: epoch, seed, position, per-partition cursors, plan digest, time.
  checkpoint::StreamState GetCheckpoint() const;
  // Continues from `state` (taken by a loader over the same dataset and config, possibly in
  // another process). InvalidArgument naming the mismatch when the plan digest (dataset, seed,
  // world size, strategy, partitions), rank, version, strategy or sequence length differ, the
  // position is past the end, or the cursors are not those of the position; the loader is
  // then left exactly as it was (epoch, position, prefetch).
  Status RestoreFromCheckpoint(const checkpoint::StreamState& state);
  // The checkpoint recorded by the last WithCheckpointInterval tick of the current epoch, if
  // any (Reset and RestoreFromCheckpoint clear it).
  std::optional<checkpoint::StreamState> LastAutoCheckpoint() const;

  // The first error met by range iteration (OK otherwise).
  const Status& status() const;

  // Range over the rest of the epoch: `for (const Sample& s : loader)`. Ends early at the
  // first error, which status() then returns. An input range (std::ranges::input_range): the
  // iterator takes a sample when it is first dereferenced or compared with end() after
  // begin() or ++, so begin() alone consumes nothing, and a loop left by `break` consumed
  // exactly the samples its body saw. ++ without a dereference skips a sample.
  class Iterator {
   public:
    using value_type = Sample;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;
    Iterator() = default;
    const Sample& operator*() const {
      Fetch();
      return *current_;
    }
    const Sample* operator->() const { return &**this; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const {
      Fetch();
      return !current_.has_value();
    }

   private:
    friend class StreamingLoader;
    explicit Iterator(StreamingLoader* loader) : loader_(loader) {}
    void Fetch() const;  // takes the next sample unless this position has one
    StreamingLoader* loader_ = nullptr;
    mutable std::optional<Sample> current_;
    mutable bool fetched_ = false;
  };
  Iterator begin() { return Iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  struct Impl;
  explicit StreamingLoader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardmesh::loader
