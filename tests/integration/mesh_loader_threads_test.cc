// MeshLoader inside one process: two mesh nodes on 127.0.0.1 (real ZeroMQ sockets, real time),
// one loader each, read by their own consumer threads while the loaders' control threads, the
// nodes' loops and the checkpoint writers run beside them. Checks the consumer/background
// hand-offs (the lock-free fast path of Next(), commits coalesced per gap, the wake-up of an
// idle control thread) by their results; CI also runs it under ThreadSanitizer.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "inprocess_mesh.h"
#include "process.h"
#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/dataset_catalog.h"
#include "shardmesh/loader/mesh_loader.h"
#include "shardmesh/loader/progress_message.h"
#include "shardmesh/loader/synthetic.h"

namespace shardmesh::testing {
namespace {

using Steady = std::chrono::steady_clock;

constexpr std::uint64_t kSamples = 20000;

class MeshLoaderThreadsTest : public ::testing::Test {
 protected:
  MeshLoaderThreadsTest() : dir_("mesh_loader_threads_") {}

  void SetUp() override {
    // Sets up spdlog's registry on this thread, as a program would at start: otherwise the
    // two consumers' first log lines construct it concurrently inside libspdlog, whose
    // (thread-safe) static initialisation TSan cannot see, being uninstrumented.
    spdlog::set_level(spdlog::level::warn);
    loader::SyntheticOptions so;
    so.out_dir = dir_.path() + "/source";
    so.samples = kSamples;
    so.shards = 8;
    so.feature_dim = 16;
    so.seq_len = 8;
    so.block_bytes = 16 * 1024;
    ASSERT_TRUE(loader::GenerateSyntheticDataset(so).ok());
    auto dataset = loader::Dataset::Open(so.out_dir);
    ASSERT_TRUE(dataset.ok()) << dataset.status().ToString();
    auto catalog = loader::DatasetCatalog::FromDataset(**dataset);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = *catalog;
    source_ = so.out_dir;
    for (const char* name : {"a", "b"}) {
      auto node = MakeInProcessNode(name, dir_.path(), catalog_, source_);
      ASSERT_TRUE(node.ok()) << node.status().ToString();
      nodes_.push_back(std::move(*node));
    }
    ASSERT_TRUE(nodes_[0].node->Start({}).ok());
    ASSERT_TRUE(nodes_[1].node->Start({nodes_[0].node->endpoint()}).ok());
  }

  void TearDown() override {
    for (auto& n : nodes_) n.node->Stop();
  }

  std::unique_ptr<loader::MeshLoader> MakeLoader(
      InProcessNode& n, std::uint64_t commit_every, const std::string& tag,
      std::chrono::milliseconds progress_interval = std::chrono::milliseconds(250),
      std::chrono::milliseconds settle = std::chrono::milliseconds(200)) {
    loader::MeshLoaderOptions o;
    o.partitions = 16;
    o.min_members = 2;
    o.settle = settle;
    o.start_timeout = std::chrono::seconds(30);
    o.epoch_end_timeout = std::chrono::seconds(60);
    o.commit_every = commit_every;
    o.progress_interval = progress_interval;
    o.checkpoint_dir = dir_.path() + "/ckpt-" + tag + "-" + n.node->name();
    auto l = loader::MeshLoader::Create(o, *n.node, *n.exchange, *n.store);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    return l.ok() ? std::move(*l) : nullptr;
  }

  std::vector<std::unique_ptr<loader::MeshLoader>> MakeLoaders(
      std::uint64_t commit_every, const std::string& tag,
      std::chrono::milliseconds progress_interval = std::chrono::milliseconds(250)) {
    std::vector<std::unique_ptr<loader::MeshLoader>> loaders;
    for (auto& n : nodes_) {
      if (auto l = MakeLoader(n, commit_every, tag, progress_interval)) {
        loaders.push_back(std::move(l));
      }
    }
    return loaders;
  }

  // Starts `epoch` on both loaders at once (each StartEpoch waits for the other's).
  static bool StartBoth(std::vector<std::unique_ptr<loader::MeshLoader>>& loaders,
                        std::uint64_t epoch) {
    Status second;
    std::thread other([&] { second = loaders[1]->StartEpoch(epoch); });
    const Status first = loaders[0]->StartEpoch(epoch);
    other.join();
    return first.ok() && second.ok();
  }

  // Starts a third node, "c", joining the mesh through a (TearDown stops it): nodes_.back().
  bool AddNodeC() {
    auto c = MakeInProcessNode("c", dir_.path(), catalog_, source_);
    if (!c.ok()) {
      ADD_FAILURE() << c.status().ToString();
      return false;
    }
    if (Status s = c->node->Start({nodes_[0].node->endpoint()}); !s.ok()) {
      ADD_FAILURE() << s.ToString();
      return false;
    }
    nodes_.push_back(std::move(*c));
    return true;
  }

  // A late member: a and b start epoch 0 (commits every `commit_every` samples, progress only
  // every 20 s, so little of it reaches the newcomer), then node c joins. Returns c's loader,
  // not started, with `settle`; null after a test failure. `loaders` gets a's and b's.
  std::unique_ptr<loader::MeshLoader> StartTwoThenAddLateC(
      std::vector<std::unique_ptr<loader::MeshLoader>>* loaders, std::uint64_t commit_every,
      const std::string& tag, std::chrono::milliseconds settle) {
    *loaders = MakeLoaders(commit_every, tag, std::chrono::seconds(20));
    if (loaders->size() != 2u || !StartBoth(*loaders, 0) || !AddNodeC()) {
      ADD_FAILURE() << "a and b did not start, or c did not join";
      return nullptr;
    }
    return MakeLoader(nodes_.back(), commit_every, tag, std::chrono::seconds(20), settle);
  }

  std::shared_ptr<const loader::DatasetCatalog> catalog_;
  std::string source_;
  TempDir dir_;
  std::vector<InProcessNode> nodes_;
};

// A restore from another plan is refused at Create: merged, its cursors skipped samples of this
// plan that were never delivered (467 of 2,000 in a user's probe, seed 1 -> seed 2).
TEST_F(MeshLoaderThreadsTest, RestoreFromAnotherPlanIsRefused) {
  auto first = MakeLoader(nodes_[0], 0, "plan");
  ASSERT_NE(first, nullptr);
  checkpoint::StreamState state;
  state.plan_digest = first->plan_digest();
  state.cursors.push_back({.partition = 0, .consumed = 5});
  first.reset();
  loader::MeshLoaderOptions o;
  o.partitions = 16;
  o.restore = state;
  auto same = loader::MeshLoader::Create(o, *nodes_[0].node, *nodes_[0].exchange, *nodes_[0].store);
  EXPECT_TRUE(same.ok()) << same.status().ToString();
  same = Status::Internal("released");
  o.seed += 1;
  auto other =
      loader::MeshLoader::Create(o, *nodes_[0].node, *nodes_[0].exchange, *nodes_[0].store);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition) << other.status().ToString();
  EXPECT_NE(other.status().message().find("another plan"), std::string::npos);
}

// Options that cannot work are refused at Create naming the field (windows_ahead 2^32-1 made
// Next() loop for ever).
TEST_F(MeshLoaderThreadsTest, OptionsOutOfRangeAreRefusedNamingTheField) {
  const auto refused = [&](const loader::MeshLoaderOptions& o, const std::string& field) {
    auto l = loader::MeshLoader::Create(o, *nodes_[0].node, *nodes_[0].exchange, *nodes_[0].store);
    EXPECT_FALSE(l.ok()) << field;
    if (!l.ok()) {
      EXPECT_TRUE(l.status().IsInvalidArgument()) << l.status().ToString();
      EXPECT_NE(l.status().message().find(field), std::string::npos) << l.status().ToString();
    }
  };
  loader::MeshLoaderOptions o;
  o.windows_ahead = 0xffffffffu;
  refused(o, "windows_ahead");
  o = {};
  o.partitions = (1u << 20) + 1;
  refused(o, "partitions");
  o = {};
  o.load_eps = std::nan("");
  refused(o, "load_eps");
  o = {};
  o.settle = -std::chrono::milliseconds(1);
  refused(o, "settle");
}

std::uint64_t CursorSum(const checkpoint::StreamState& s) {
  std::uint64_t sum = 0;
  for (const auto& c : s.cursors) sum += c.consumed;
  return sum;
}

// Both consumers read flat out, committing every 7 samples: each sample of the epoch arrives
// exactly once across the two, both see the epoch end, and each ends knowing every cursor.
TEST_F(MeshLoaderThreadsTest, TwoConsumersCommittingOftenDeliverEverySampleOnce) {
  auto loaders = MakeLoaders(7, "often");
  ASSERT_EQ(loaders.size(), 2u);
  std::vector<std::vector<std::uint64_t>> ids(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      if (Status s = loaders[i]->StartEpoch(0); !s.ok()) {
        errors[i] = s.ToString();
        return;
      }
      for (;;) {
        auto next = loaders[i]->Next();
        if (!next.ok()) {
          errors[i] = next.status().ToString();
          return;
        }
        if (!next->has_value()) return;
        ids[i].push_back((*next)->global_index());
        if (ids[i].size() % 100 == 0) loaders[i]->Commit();  // beside commit_every
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  EXPECT_GT(ids[0].size(), 0u);
  EXPECT_GT(ids[1].size(), 0u);
  std::vector<std::uint64_t> all = ids[0];
  all.insert(all.end(), ids[1].begin(), ids[1].end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), kSamples);
  for (std::uint64_t i = 0; i < kSamples; ++i) ASSERT_EQ(all[i], i) << "missing or repeated";
  for (auto& l : loaders) {
    EXPECT_EQ(CursorSum(l->GetCheckpoint()), kSamples);
    const auto state = l->GetCheckpoint();
    EXPECT_EQ(state.position, kSamples);         // mesh mode: the sum of the cursors
    EXPECT_EQ(state.sequence_length, kSamples);  // and the whole epoch
    // What a restart reads back (a position beyond the length made every checkpoint invalid).
    EXPECT_TRUE(checkpoint::DecodeStreamState(AsBytes(checkpoint::EncodeStreamState(state))).ok());
    EXPECT_GT(l->stats().commits, 0u);
  }
}

// A lone commit made while the loader is quiet reaches the peer's table with no other commit
// after it, and so does the last of commits bunched faster than the gap. The periodic re-send
// of the whole table is set to 20 s, beyond the 3 s the test waits, so only the commit path
// (the control thread's coalesced broadcast) can have carried them.
TEST_F(MeshLoaderThreadsTest, CommitsReachThePeerWhetherSpacedOrBunched) {
  auto loaders = MakeLoaders(0, "spaced", std::chrono::seconds(20));
  ASSERT_EQ(loaders.size(), 2u);
  ASSERT_TRUE(StartBoth(loaders, 3));
  auto wait_for_peer = [&](std::uint64_t want) {
    const auto deadline = Steady::now() + std::chrono::seconds(3);
    while (Steady::now() < deadline) {
      if (CursorSum(loaders[1]->GetCheckpoint()) >= want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  };
  for (int round = 0; round < 5; ++round) {
    // Bunched: many commits inside one gap; only the last cursors matter.
    for (int k = 0; k < 20; ++k) {
      for (int s = 0; s < 3; ++s) {
        auto next = loaders[0]->Next();
        ASSERT_TRUE(next.ok() && next->has_value());
      }
      loaders[0]->Commit();
    }
    const std::uint64_t want = CursorSum(loaders[0]->GetCheckpoint());
    ASSERT_TRUE(wait_for_peer(want)) << "round " << round << ": peer never saw cursor sum " << want;
    // Spaced: past the gap, one commit alone.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    auto next = loaders[0]->Next();
    ASSERT_TRUE(next.ok() && next->has_value());
    loaders[0]->Commit();
    ASSERT_TRUE(wait_for_peer(want + 1)) << "round " << round << ": lone commit not replicated";
  }
}

// A third member joins while a and b are mid-epoch. The owners hand it the partitions the
// assignment over {a, b, c} gives it, each at one of their commits, and it delivers them from
// there: every sample of the epoch arrives exactly once across the three (nobody died, so
// nothing may repeat), and c delivers some. a and b read slowly until they have handed
// something over (bounded by a deadline), then flat out.
TEST_F(MeshLoaderThreadsTest, AMemberJoiningMidEpochTakesHandedOverPartitionsAndNothingRepeats) {
  auto loaders = MakeLoaders(5, "join");
  ASSERT_EQ(loaders.size(), 2u);
  std::atomic<bool> joined{false};
  std::vector<std::vector<std::uint64_t>> ids(3);
  std::vector<std::string> errors(3);
  std::atomic<std::size_t> delivered_by_a{0}, delivered_by_b{0};
  std::atomic<bool> ab_failed{false};
  auto consume = [&](loader::MeshLoader& l, std::size_t i, bool pace) {
    const auto deadline = Steady::now() + std::chrono::seconds(20);
    for (;;) {
      auto next = l.Next();
      if (!next.ok()) {
        errors[i] = next.status().ToString();
        if (i < 2) ab_failed = true;
        return;
      }
      if (!next->has_value()) return;
      ids[i].push_back((*next)->global_index());
      if (i < 2) ++(i == 0 ? delivered_by_a : delivered_by_b);
      // Hold at 2,000 samples until c has started the epoch, then go slowly until this
      // worker handed a partition over (or the deadline passed).
      while (pace && ids[i].size() >= 2000 && !joined && Steady::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (pace && ids[i].size() >= 2000 && ids[i].size() % 10 == 0 &&
          l.stats().partitions_handed_over == 0 && Steady::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      if (Status s = loaders[i]->StartEpoch(0); !s.ok()) {
        errors[i] = s.ToString();
        ab_failed = true;
        return;
      }
      consume(*loaders[i], i, /*pace=*/true);
    });
  }
  // c's node starts only once a and b are into the epoch, so that c is not in its M0.
  Result<InProcessNode> c = Status::Internal("c not started");
  std::unique_ptr<loader::MeshLoader> guest;
  std::thread third([&] {
    while ((delivered_by_a < 500 || delivered_by_b < 500) && !ab_failed)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    c = MakeInProcessNode("c", dir_.path(), catalog_, source_);
    Status s = c.ok() ? c->node->Start({nodes_[0].node->endpoint()}) : c.status();
    // A settle longer than the progress interval: c hears that the mesh is in epoch 0 (and
    // its member set) before it starts, as a worker joining with the defaults does.
    if (s.ok()) {
      guest =
          MakeLoader(*c, 5, "join", std::chrono::milliseconds(250), std::chrono::milliseconds(700));
    }
    if (s.ok() && guest == nullptr) s = Status::Internal("no loader for c");
    if (s.ok()) s = guest->StartEpoch(0);
    joined = true;
    if (!s.ok()) {
      errors[2] = s.ToString();
      return;
    }
    consume(*guest, 2, /*pace=*/false);
  });
  for (auto& t : threads) t.join();
  third.join();
  if (c.ok()) nodes_.push_back(std::move(*c));  // TearDown stops it
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  ASSERT_EQ(errors[2], "");
  const auto handed =
      loaders[0]->stats().partitions_handed_over + loaders[1]->stats().partitions_handed_over;
  EXPECT_GT(handed, 0u);
  EXPECT_EQ(guest->stats().partitions_received, handed);
  EXPECT_GT(ids[2].size(), 0u) << "the member that joined mid-epoch delivered nothing";
  std::vector<std::uint64_t> all;
  for (const auto& v : ids) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), kSamples) << "samples repeated or missing";
  for (std::uint64_t i = 0; i < kSamples; ++i) ASSERT_EQ(all[i], i) << "missing or repeated";
}

// A member that starts an epoch before it hears any progress of it (here: the others send none,
// and its settle is short) fixes a member set of its own. The others ignore its messages as
// conflicting and count them, rather than merging a table built on other owners.
TEST_F(MeshLoaderThreadsTest, ProgressFromAnotherMemberSetIsIgnoredAndCounted) {
  std::vector<std::unique_ptr<loader::MeshLoader>> loaders;
  auto late = StartTwoThenAddLateC(&loaders, 0, "conflict", std::chrono::milliseconds(100));
  ASSERT_NE(late, nullptr);
  ASSERT_TRUE(late->StartEpoch(0).ok());
  const auto deadline = Steady::now() + std::chrono::seconds(10);
  while (loaders[0]->stats().progress_conflicts + loaders[1]->stats().progress_conflicts == 0 &&
         Steady::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GT(loaders[0]->stats().progress_conflicts + loaders[1]->stats().progress_conflicts, 0u);
  // Their tables still name only a and b, with every partition owned by one of them.
  for (auto& l : loaders) {
    const auto state = l->GetCheckpoint();
    EXPECT_EQ(state.world_size, 2u);
  }
  late.reset();
}

// Reads `loaders` to the end of the epoch on threads of their own, appending to `ids`; returns
// the errors (empty strings when none).
std::vector<std::string> ReadToEnd(std::vector<std::unique_ptr<loader::MeshLoader>>& loaders,
                                   std::vector<std::vector<std::uint64_t>>& ids) {
  std::vector<std::string> errors(loaders.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < loaders.size(); ++i) {
    threads.emplace_back([&, i] {
      for (;;) {
        auto next = loaders[i]->Next();
        if (!next.ok()) {
          errors[i] = next.status().ToString();
          return;
        }
        if (!next->has_value()) return;
        ids[i].push_back((*next)->global_index());
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

// How many times each sample of the epoch was delivered across `ids`.
std::vector<int> Deliveries(const std::vector<std::vector<std::uint64_t>>& ids) {
  std::vector<int> count(kSamples, 0);
  for (const auto& v : ids)
    for (std::uint64_t id : v) ++count.at(id);
  return count;
}

bool Lists(InProcessNode& n, const std::string& name) {
  const auto live = n.node->LiveMembers();
  return std::find(live.begin(), live.end(), name) != live.end();
}

// The same late member, but the others do commit: their progress after its start shows that
// they began the epoch without it (both name a set that lacks it and lies within its own), so
// it installs the epoch again with their set, as a guest. The epoch then ends for all three,
// nothing lost; only what the late member delivered under its own set repeats, instead of it
// duplicating its whole share and waiting for ever on a table nobody else keeps.
TEST_F(MeshLoaderThreadsTest, LateStarterRejoinsTheEpochAsAGuestOfTheMeshMemberSet) {
  std::vector<std::unique_ptr<loader::MeshLoader>> loaders;
  auto late = StartTwoThenAddLateC(&loaders, 7, "rejoin", std::chrono::milliseconds(100));
  ASSERT_NE(late, nullptr);
  ASSERT_TRUE(late->StartEpoch(0).ok());
  ASSERT_EQ(late->GetCheckpoint().world_size, 3u) << "it heard progress before it started";
  std::vector<std::vector<std::uint64_t>> ids(3);
  constexpr int kEarly = 30;  // delivered by c under its own member set
  for (int k = 0; k < kEarly; ++k) {
    auto next = late->Next();
    ASSERT_TRUE(next.ok() && next->has_value());
    ids[2].push_back((*next)->global_index());
  }
  // a and b deliver and commit (commit_every 7) once they know c: their progress reaches it.
  ASSERT_TRUE(WaitFor([&] { return Lists(nodes_[0], "c") && Lists(nodes_[1], "c"); },
                      std::chrono::seconds(10)));
  for (std::size_t i = 0; i < 2; ++i) {
    for (int k = 0; k < 7; ++k) {
      auto next = loaders[i]->Next();
      ASSERT_TRUE(next.ok() && next->has_value());
      ids[i].push_back((*next)->global_index());
    }
  }
  // One progress message from each (both must name the set before c adopts it).
  ASSERT_TRUE(
      WaitFor([&] { return late->stats().progress_conflicts >= 2; }, std::chrono::seconds(10)));
  loaders.push_back(std::move(late));
  const auto errors = ReadToEnd(loaders, ids);
  for (std::size_t i = 0; i < 3; ++i) ASSERT_EQ(errors[i], "") << "loader " << i;
  EXPECT_EQ(loaders[2]->stats().epochs_rejoined, 1u);
  EXPECT_EQ(loaders[2]->GetCheckpoint().world_size, 2u);  // the mesh's set: a and b
  const std::vector<int> count = Deliveries(ids);
  std::size_t repeated = 0;
  for (std::uint64_t id = 0; id < kSamples; ++id) {
    ASSERT_GE(count[id], 1) << "sample " << id << " lost";
    ASSERT_LE(count[id], 2) << "sample " << id;
    if (count[id] == 2) {
      ++repeated;
      // Only what c delivered under its own set repeats.
      EXPECT_NE(std::find(ids[2].begin(), ids[2].begin() + kEarly, id), ids[2].begin() + kEarly)
          << "sample " << id << " repeated but not among c's first deliveries";
    }
  }
  EXPECT_EQ(repeated, static_cast<std::size_t>(kEarly));
}

// The late member's own set is shown wrong while its StartEpoch still waits for the others to
// start (settle 2 s): it re-joins as a guest there, before delivering anything, so every sample
// arrives exactly once and the epoch ends for all three.
TEST_F(MeshLoaderThreadsTest, LateStarterRejoinsInsideStartEpochAndDeliversNothingTwice) {
  std::vector<std::unique_ptr<loader::MeshLoader>> loaders;
  auto late = StartTwoThenAddLateC(&loaders, 7, "inside", std::chrono::seconds(2));
  ASSERT_NE(late, nullptr);
  Status started;
  std::thread start([&] { started = late->StartEpoch(0); });
  // Its own set is installed; its StartEpoch now waits up to 2 s for word from a and b.
  const bool installed =
      WaitFor([&] { return late->GetCheckpoint().world_size == 3; }, std::chrono::seconds(20));
  std::vector<std::vector<std::uint64_t>> ids(3);
  for (std::size_t i = 0; installed && i < 2; ++i) {
    for (int k = 0; k < 7; ++k) {  // one commit each: their progress reaches c
      auto next = loaders[i]->Next();
      ASSERT_TRUE(next.ok() && next->has_value());
      ids[i].push_back((*next)->global_index());
    }
  }
  start.join();
  ASSERT_TRUE(installed) << "c never installed the epoch with its own member set";
  ASSERT_TRUE(started.ok()) << started.ToString();
  EXPECT_EQ(late->stats().epochs_rejoined, 1u);
  EXPECT_EQ(late->GetCheckpoint().world_size, 2u);
  EXPECT_EQ(late->stats().samples_delivered, 0u);
  loaders.push_back(std::move(late));
  const auto errors = ReadToEnd(loaders, ids);
  for (std::size_t i = 0; i < 3; ++i) ASSERT_EQ(errors[i], "") << "loader " << i;
  const std::vector<int> count = Deliveries(ids);
  for (std::uint64_t id = 0; id < kSamples; ++id) ASSERT_EQ(count[id], 1) << "sample " << id;
}

// The reverse: a, b and c run the epoch as {a, b, c}, and c receives progress that claims to
// come from b and names {a, b} (as from a b that restarted and fixed a smaller set too early).
// a still names {a, b, c}, so that set is not the mesh's, and c must not re-join it: before
// the rule that every live member of the set must name it, c did, and then nobody delivered
// its partitions (it was alive, so nobody took them over) until the epoch-end timeout.
TEST_F(MeshLoaderThreadsTest, OnePeerNamingASmallerSetDoesNotMakeAMemberRejoin) {
  ASSERT_TRUE(AddNodeC());
  ASSERT_TRUE(WaitFor(
      [&] {
        for (auto& n : nodes_)
          if (n.node->LiveMembers().size() != 3) return false;
        return true;
      },
      std::chrono::seconds(10)));
  std::vector<std::unique_ptr<loader::MeshLoader>> loaders;
  for (auto& n : nodes_) loaders.push_back(MakeLoader(n, 7, "smaller"));
  {
    std::vector<std::thread> starts;
    std::vector<Status> started(3);
    for (std::size_t i = 0; i < 3; ++i)
      starts.emplace_back([&, i] { started[i] = loaders[i]->StartEpoch(0); });
    for (auto& t : starts) t.join();
    for (const auto& s : started) ASSERT_TRUE(s.ok()) << s.ToString();
  }
  for (auto& l : loaders) ASSERT_EQ(l->GetCheckpoint().world_size, 3u);
  loader::MeshLoaderOptions plan;
  plan.partitions = 16;  // as MakeLoader: the digest must match for c to consider it
  loader::ProgressMessage claim;
  claim.epoch = 0;
  claim.plan_digest = loader::MeshPlanDigest(*catalog_, plan);
  claim.members = {"a", "b"};
  mesh::Envelope forged;
  forged.header.type = mesh::MessageType::kPartitionProgress;
  forged.header.sender = "b";
  forged.header.sender_endpoint = nodes_[1].node->endpoint();
  forged.payload = SharedBytes::FromString(loader::EncodeProgress(claim));
  const std::uint64_t before = loaders[2]->stats().progress_conflicts;
  nodes_[0].node->Post(
      [forged, to = nodes_[2].node->endpoint()](mesh::Transport& t) { (void)t.Send(to, forged); });
  ASSERT_TRUE(WaitFor([&] { return loaders[2]->stats().progress_conflicts > before; },
                      std::chrono::seconds(10)));
  std::vector<std::vector<std::uint64_t>> ids(3);
  const auto errors = ReadToEnd(loaders, ids);
  for (std::size_t i = 0; i < 3; ++i) ASSERT_EQ(errors[i], "") << "loader " << i;
  for (auto& l : loaders) EXPECT_EQ(l->stats().epochs_rejoined, 0u);
  const std::vector<int> count = Deliveries(ids);
  for (std::uint64_t id = 0; id < kSamples; ++id) ASSERT_EQ(count[id], 1) << "sample " << id;
}

}  // namespace
}  // namespace shardmesh::testing
