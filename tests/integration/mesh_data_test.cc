// Mesh-mode data with real worker processes on 127.0.0.1 (issue 4): placement with R copies,
// the consistent-hash and global-shuffle loaders delivering every sample exactly once, kill -9
// during placement and during reading, healing of a damaged block, and a clear error when the
// only holder of a shard is dead. Every scenario reads the workers' ids_out files.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <httplib.h>

#include "data_cluster.h"
#include "prometheus_text.h"

namespace shardmesh::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr int kSamples = DataCluster::kSamples;
constexpr int kCommitEvery = DataCluster::kCommitEvery;

class MeshDataTest : public ::testing::Test {
 protected:
  MeshDataTest() : data_("data") {}

  void GenerateDataset() { data_.Generate(); }
  void Start(int n, const std::string& extra) { data_.Start(n, extra); }
  std::string DataDir(int i) const { return data_.DataDir(i); }
  std::string IdsPath(int i) const { return data_.IdsPath(i); }
  std::set<std::string> Held(int i) const { return data_.Held(i); }
  bool EveryShardHasCopies(const std::vector<int>& w, int r) const {
    return data_.EveryShardHasCopies(w, r);
  }
  DataCluster::Delivery ReadDelivery() const { return data_.ReadDelivery(); }
  std::pair<std::uint64_t, std::uint64_t> LocalRemote() const { return data_.LocalRemote(); }
  std::map<int, std::string> Logs() const { return data_.Logs(); }
  void ExpectExit(int i, int code, seconds within) { data_.ExpectExit(i, code, within); }

  DataCluster data_;
  MeshCluster& cluster_ = data_.mesh();
};

TEST_F(MeshDataTest, ConsistentHashPlacesTwoCopiesAndDeliversEverySampleOnceMostlyLocally) {
  GenerateDataset();
  Start(4, "replication = 2\nepochs = 1\nmin_members = 4\n");
  for (int i = 0; i < 4; ++i) ExpectExit(i, 0, seconds(60));
  const auto d = ReadDelivery();
  EXPECT_EQ(d.lost, 0u);
  EXPECT_EQ(d.duplicates, 0u);
  EXPECT_EQ(d.total, static_cast<std::uint64_t>(kSamples));
  const auto [local, remote] = LocalRemote();
  EXPECT_EQ(local + remote, static_cast<std::uint64_t>(kSamples));
  EXPECT_GE(static_cast<double>(local) / kSamples, 0.9) << "local " << local << " remote " << remote;
  std::printf("consistent-hash: %llu local, %llu remote reads\n",
              static_cast<unsigned long long>(local), static_cast<unsigned long long>(remote));
  EXPECT_TRUE(EveryShardHasCopies({0, 1, 2, 3}, 2));
}

// Workers started together from a shared source copy only the shards they own: placement waits
// for a settled view. Each used to see only itself at first, own every shard, and copy the
// whole dataset (56 copies instead of 32 here with `settle = "0ms"`).
TEST_F(MeshDataTest, SharedSourceWorkersCopyOnlyWhatTheyOwn) {
  GenerateDataset();
  data_.set_shared_source(true);
  // A settle long enough for four processes started together on a busy 2-core machine.
  Start(4, "replication = 2\nsettle = \"3s\"\n");
  ASSERT_TRUE(WaitFor([&] { return EveryShardHasCopies({0, 1, 2, 3}, 2); }, seconds(60)))
      << Logs()[0];
  std::this_thread::sleep_for(milliseconds(1500));  // time for any extra copy to show up
  std::size_t copies = 0;
  for (int i = 0; i < 4; ++i) copies += Held(i).size();
  EXPECT_EQ(copies, static_cast<std::size_t>(2 * DataCluster::kShards));
}

TEST_F(MeshDataTest, GlobalShuffleDeliversEverySampleOnceAndCountsRemoteReads) {
  GenerateDataset();
  Start(4, "replication = 2\nepochs = 1\nmin_members = 4\nstrategy = \"global-shuffle\"\n");
  for (int i = 0; i < 4; ++i) ExpectExit(i, 0, seconds(60));
  const auto d = ReadDelivery();
  EXPECT_EQ(d.lost, 0u);
  EXPECT_EQ(d.duplicates, 0u);
  const auto [local, remote] = LocalRemote();
  EXPECT_EQ(local + remote, static_cast<std::uint64_t>(kSamples));
  EXPECT_GT(remote, 0u);
  std::printf("global-shuffle: %llu local, %llu remote reads\n",
              static_cast<unsigned long long>(local), static_cast<unsigned long long>(remote));
}

// Within this bound after a kill, every shard has R copies again among the survivors: failure
// detection (~1.1 s with the local profile) plus one placement round and the copy itself.
constexpr seconds kReplicationBound(15);

// Scrapes worker i's /metrics, checks the text strictly (and with promtool when
// SHARDMESH_PROMTOOL or promtool on PATH exists) and returns it parsed.
PromExposition Scrape(const DataCluster& data, int i) {
  httplib::Client client("127.0.0.1", data.MetricsPort(i));
  client.set_connection_timeout(2);
  auto response = client.Get("/metrics");
  EXPECT_TRUE(response) << "no answer from w" << i << "'s metrics port";
  if (!response) return {};
  EXPECT_EQ(response->status, 200);
  EXPECT_NE(response->get_header_value("Content-Type").find("version=0.0.4"), std::string::npos);
  auto parsed = ParsePrometheusText(response->body);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << response->body;
  const char* env = std::getenv("SHARDMESH_PROMTOOL");
  const std::string promtool = env != nullptr ? env : "promtool";
  if (std::system(("command -v " + promtool + " >/dev/null 2>&1").c_str()) == 0) {
    const std::string file = data.mesh().dir() + "/scrape.txt";
    WriteTextFile(file, response->body);
    EXPECT_EQ(std::system((promtool + " check metrics < " + file).c_str()), 0);
  }
  return parsed.ok() ? *parsed : PromExposition{};
}

TEST_F(MeshDataTest, Kill9DuringReadingLosesNoSampleAndRestoresTwoCopies) {
  GenerateDataset();
  data_.EnableMetrics(4);
  Start(4, "replication = 2\nepochs = 1\nmin_members = 4\nconsume_rate = 1500\nserve_after = true\n");
  // Reading has begun once w3 wrote its first commit.
  ASSERT_TRUE(WaitFor([&] { return fs::exists(IdsPath(3)) && fs::file_size(IdsPath(3)) > 0; },
                      milliseconds(30000)))
      << cluster_.Logs();
  std::this_thread::sleep_for(milliseconds(500));
  cluster_.worker(3).Signal(SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  const std::vector<int> survivors{0, 1, 2};
  EXPECT_TRUE(WaitFor([&] { return EveryShardHasCopies(survivors, 2); }, kReplicationBound))
      << cluster_.Logs();
  const auto restored_after = std::chrono::steady_clock::now() - killed_at;
  const auto restored_ms = std::chrono::duration_cast<milliseconds>(restored_after).count();
  RecordProperty("replication_restored_ms", static_cast<int>(restored_ms));
  std::printf("two copies of every shard again %lld ms after the kill\n",
              static_cast<long long>(restored_ms));
  ASSERT_TRUE(data_.WaitForEpochDone(survivors, 0, milliseconds(60000))) << cluster_.Logs();
  // Prometheus metrics: what each survivor delivered, where from, and the members it sees.
  for (int i : survivors) {
    const PromExposition m = Scrape(data_, i);
    const double local = m.Value("shardmesh_samples_delivered_total", {{"source", "local"}}).value_or(-1);
    const double remote = m.Value("shardmesh_samples_delivered_total", {{"source", "remote"}}).value_or(-1);
    std::ifstream ids(IdsPath(i));
    const auto lines = std::count(std::istreambuf_iterator<char>(ids), {}, '\n');
    EXPECT_EQ(local + remote, static_cast<double>(lines)) << "w" << i;
    EXPECT_EQ(m.Value("shardmesh_members", {{"state", "alive"}}), 3.0) << "w" << i;
    EXPECT_EQ(m.Value("shardmesh_members", {{"state", "dead"}}), 1.0) << "w" << i;
    EXPECT_EQ(m.Value("shardmesh_replication_backlog_shards"), 0.0) << "w" << i;
    EXPECT_GT(m.Value("shardmesh_store_bytes").value_or(0), 0.0);
    EXPECT_NE(m.Find("shardmesh_fetch_latency_seconds"), nullptr);
  }
  // `shardmesh status` shows each survivor's disk use and an empty replication backlog.
  for (int i : survivors) {
    auto status = cluster_.Status(i);
    ASSERT_TRUE(status.ok()) << status.status().message();
    EXPECT_GT(std::stoull(status->node_info.at("disk_bytes")), 0u);
    EXPECT_EQ(status->node_info.at("replication_backlog"), "0");
    EXPECT_EQ(status->node_info.at("epoch_remaining"), "0");
  }
  for (int i : survivors) cluster_.worker(i).Signal(SIGTERM);
  for (int i : survivors) ExpectExit(i, 0, seconds(15));
  const auto d = ReadDelivery();
  EXPECT_EQ(d.lost, 0u) << cluster_.Logs();
  // Only what w3 delivered after its last commit may come twice (and ids_out only holds
  // committed ids, so in practice none).
  EXPECT_LE(d.duplicates, static_cast<std::uint64_t>(kCommitEvery));
  EXPECT_NE(Logs().at(0).find("taking over") == std::string::npos &&
                Logs().at(1).find("taking over") == std::string::npos &&
                Logs().at(2).find("taking over") == std::string::npos,
            true)
      << "nobody took over the dead worker's partitions";
}

TEST_F(MeshDataTest, Kill9DuringPlacementStillEndsWithTwoCopiesAndEverySampleOnce) {
  GenerateDataset();
  Start(4, "replication = 2\nepochs = 1\nmin_members = 3\nserve_after = true\n");
  // w2 has begun pulling its shards.
  ASSERT_TRUE(WaitFor([&] { return !Held(2).empty(); }, milliseconds(30000))) << cluster_.Logs();
  cluster_.worker(2).Signal(SIGKILL);
  const std::vector<int> survivors{0, 1, 3};
  EXPECT_TRUE(WaitFor([&] { return EveryShardHasCopies(survivors, 2); }, kReplicationBound))
      << cluster_.Logs();
  ASSERT_TRUE(data_.WaitForEpochDone(survivors, 0, milliseconds(60000))) << cluster_.Logs();
  for (int i : survivors) cluster_.worker(i).Signal(SIGTERM);
  for (int i : survivors) ExpectExit(i, 0, seconds(15));
  const auto d = ReadDelivery();
  EXPECT_EQ(d.lost, 0u) << cluster_.Logs();
  EXPECT_LE(d.duplicates, static_cast<std::uint64_t>(kCommitEvery));
}

// A damaged block in a stored copy is caught when read and healed from another copy. The copies
// are damaged between two runs, and the second starts without the whole-file check of its store,
// so the reader meets the damage (damaging a live run between placement and reading raced: an
// epoch starts as soon as placement ends).
TEST_F(MeshDataTest, FlippedByteInAStoredBlockIsHealedFromAReplica) {
  GenerateDataset();
  Start(4, "replication = 2\nepochs = 0\nmin_members = 4\n");
  ASSERT_TRUE(WaitFor(
      [&] {
        return EveryShardHasCopies({0, 1, 2, 3}, 2);
      },
      milliseconds(30000)))
      << cluster_.Logs();
  for (int i = 0; i < 4; ++i) cluster_.worker(i).Signal(SIGTERM);
  for (int i = 0; i < 4; ++i) ExpectExit(i, 0, seconds(15));
  // Damage block 0 of shard 0 in every store copy (the source stays intact).
  int damaged = 0;
  for (int i = 0; i < 4; ++i) {
    for (const auto& sub : fs::directory_iterator(DataDir(i))) {
      const fs::path file = sub.path() / "shard-00000.smd";
      if (!fs::exists(file)) continue;
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(40);
      char c = 0;
      f.read(&c, 1);
      c = static_cast<char>(c ^ 0x5a);
      f.seekp(40);
      f.write(&c, 1);
      ++damaged;
    }
  }
  ASSERT_GE(damaged, 2);
  for (int i = 0; i < 4; ++i) {
    data_.Restart(i,
                  "replication = 2\nepochs = 1\nmin_members = 4\n"
                  "verify_store_at_start = false\n");
  }
  for (int i = 0; i < 4; ++i) ExpectExit(i, 0, seconds(60));
  const auto d = ReadDelivery();
  EXPECT_EQ(d.lost, 0u);
  EXPECT_EQ(d.duplicates, 0u);
  int healed = 0;
  for (const auto& [i, text] : Logs()) healed += text.find("healed block") != std::string::npos;
  EXPECT_GE(healed, 1) << cluster_.Logs();
}

TEST_F(MeshDataTest, ReplicationOneWithTheOnlyHolderDeadGivesAClearErrorNotAHang) {
  GenerateDataset();
  Start(3,
        "replication = 1\nepochs = 1\nmin_members = 2\nsettle = \"3s\"\n"
        "read_deadline = \"2s\"\nepoch_end_timeout = \"20s\"\n"
        // A worker whose owned shards can never arrive, and whose last peer failed and left,
        // must give up within the test's wait too (CI saw 30 s + 60 s with the defaults).
        "placement_timeout = \"5s\"\nstart_timeout = \"10s\"\n"
        // The epoch starts as soon as placement ends: paced reading keeps w0 from finishing
        // its share (about 7,000 samples) before it is killed.
        "consume_rate = 2000\n");
  // Wait until w1 and w2 have the catalog and hold shards of their own: killing w0 (the only
  // source) before that leaves them nothing to read from and nothing to report on.
  ASSERT_TRUE(WaitFor([&] { return EveryShardHasCopies({0, 1, 2}, 1) && !data_.Held(1).empty() &&
                                   !data_.Held(2).empty(); },
                      milliseconds(20000)))
      << cluster_.Logs();
  // w0 has the source and its own shards: after it dies they have no holder at all.
  cluster_.worker(0).Signal(SIGKILL);
  int failed = 0;
  for (int i : {1, 2}) {
    auto code = cluster_.worker(i).Wait(seconds(60));
    ASSERT_TRUE(code.has_value()) << cluster_.Name(i) << " hangs\n" << cluster_.Logs();
    failed += *code != 0;
  }
  EXPECT_GE(failed, 1);
  bool clear = false;
  for (const auto& [i, text] : Logs()) {
    if (i == 0) continue;
    clear |= std::regex_search(text, std::regex(R"(error .*shard-\d+\.smd block \d+: no live holder)"));
  }
  EXPECT_TRUE(clear) << cluster_.Logs();
}

}  // namespace
}  // namespace shardmesh::testing
