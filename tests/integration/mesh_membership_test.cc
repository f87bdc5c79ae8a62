// Real worker processes on 127.0.0.1 with the Local profile (probe 200 ms): agreement, crash
// detection, pause and refutation, restart, graceful leave, and CurveZMQ admission.
#include <signal.h>

#include <gtest/gtest.h>

#include <fstream>
#include <numeric>
#include <thread>

#include "mesh_cluster.h"

namespace shardmesh::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<int> AllBut(int n, int except) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i)
    if (i != except) v.push_back(i);
  return v;
}

bool AllSee(const MeshCluster& c, const std::vector<int>& viewers, const std::string& member,
            const std::string& state) {
  for (int v : viewers)
    if (c.StateOf(v, member) != state) return false;
  return true;
}

TEST(MeshMembershipTest, EightWorkersReachAgreementAndDetectKill9) {
  MeshCluster c("kill");
  c.Start(8);
  std::vector<int> all(8);
  std::iota(all.begin(), all.end(), 0);
  ASSERT_TRUE(WaitFor([&] { return c.AllAgree(all, 8); }, seconds(30))) << c.Logs();

  c.worker(5).Signal(SIGKILL);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return AllSee(c, AllBut(8, 5), "w5", "dead"); }, seconds(20)))
      << c.Logs();
  const auto detect_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("all_know_dead_ms", static_cast<int>(detect_ms));
  EXPECT_TRUE(WaitFor([&] { return c.AllAgree(AllBut(8, 5), 7); }, seconds(10)));
}

TEST(MeshMembershipTest, PausedWorkerIsDeclaredDeadThenRefutesAfterResume) {
  MeshCluster c("stop");
  c.Start(4);
  ASSERT_TRUE(WaitFor([&] { return c.AllAgree({0, 1, 2, 3}, 4); }, seconds(30))) << c.Logs();
  const std::uint64_t before = c.IncarnationOf(0, "w3");

  c.worker(3).Signal(SIGSTOP);
  ASSERT_TRUE(WaitFor([&] { return AllSee(c, {0, 1, 2}, "w3", "dead"); }, seconds(20)))
      << c.Logs();
  c.worker(3).Signal(SIGCONT);
  ASSERT_TRUE(WaitFor([&] { return AllSee(c, {0, 1, 2, 3}, "w3", "alive"); }, seconds(20)))
      << c.Logs();
  EXPECT_GT(c.IncarnationOf(0, "w3"), before);
}

TEST(MeshMembershipTest, RestartedWorkerRejoinsWithHigherIncarnation) {
  MeshCluster c("restart");
  c.Start(4);
  ASSERT_TRUE(WaitFor([&] { return c.AllAgree({0, 1, 2, 3}, 4); }, seconds(30))) << c.Logs();
  c.worker(2).Signal(SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return AllSee(c, {0, 1, 3}, "w2", "dead"); }, seconds(20)));
  const std::uint64_t dead_incarnation = c.IncarnationOf(0, "w2");

  c.Launch(2);
  ASSERT_TRUE(WaitFor([&] { return AllSee(c, {0, 1, 3}, "w2", "alive"); }, seconds(20)))
      << c.Logs();
  EXPECT_GT(c.IncarnationOf(0, "w2"), dead_incarnation);
  EXPECT_TRUE(WaitFor([&] { return c.AllAgree({0, 1, 2, 3}, 4); }, seconds(20)));
}

TEST(MeshMembershipTest, SigtermIsSeenAsLeaveQuicklyAndExitsZero) {
  MeshCluster c("leave");
  c.Start(4);
  ASSERT_TRUE(WaitFor([&] { return c.AllAgree({0, 1, 2, 3}, 4); }, seconds(30))) << c.Logs();
  c.worker(1).Signal(SIGTERM);
  const auto t0 = std::chrono::steady_clock::now();
  // Two Local protocol periods are 400 ms; status polling itself takes a few ms per viewer.
  ASSERT_TRUE(WaitFor([&] { return AllSee(c, {0, 2, 3}, "w1", "left"); }, seconds(5)));
  const auto ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LE(ms, 1500) << "leave took " << ms << " ms to be seen by all";
  auto code = c.worker(1).Wait(seconds(5));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << c.worker(1).ReadLog();
}

struct KeyPair {
  std::string pub, sec;
};

KeyPair Keygen(const TempDir& dir, const std::string& name) {
  const std::string path = dir.path() + "/" + name + ".toml";
  ChildProcess p({SHARDMESH_BIN, "keygen", "--out", path}, dir.path() + "/keygen.log");
  EXPECT_EQ(p.Wait(seconds(10)).value_or(-1), 0);
  std::ifstream in(path);
  std::string line;
  KeyPair k;
  while (std::getline(in, line)) {
    const auto q1 = line.find('"'), q2 = line.rfind('"');
    if (line.rfind("curve", 0) != 0 || q1 == std::string::npos || q2 <= q1) continue;
    const std::string value = line.substr(q1 + 1, q2 - q1 - 1);
    if (line.find("public") != std::string::npos) k.pub = value;
    if (line.find("secret") != std::string::npos) k.sec = value;
  }
  return k;
}

TEST(MeshMembershipTest, WorkerWithUnlistedCurveKeyIsRefused) {
  TempDir keys("shardmesh_it_keys_");
  const KeyPair server = Keygen(keys, "server");
  std::vector<KeyPair> node;
  for (int i = 0; i < 4; ++i) node.push_back(Keygen(keys, "n" + std::to_string(i)));
  ASSERT_EQ(server.pub.size(), 40u);
  ASSERT_EQ(node[3].sec.size(), 40u);
  // w0..w2 admit each other; w3 has a valid key pair that nobody lists.
  const std::string allowed = "allowed_peers = [\"" + node[0].pub + "\", \"" + node[1].pub +
                              "\", \"" + node[2].pub + "\"]\n";
  MeshCluster c("curve");
  c.Start(4, [&](int i) {
    return "curve_public = \"" + node[i].pub + "\"\ncurve_secret = \"" + node[i].sec +
           "\"\ncurve_server_public = \"" + server.pub + "\"\ncurve_server_secret = \"" +
           server.sec + "\"\n" + allowed;
  });
  mesh::ZmqTransportOptions client;  // status queries authenticate as w0
  client.curve_public = node[0].pub;
  client.curve_secret = node[0].sec;
  client.curve_server_public = server.pub;
  client.curve_server_secret = server.sec;
  client.allowed_peers = {node[0].pub, node[1].pub, node[2].pub};
  c.SetClientOptions(client);

  ASSERT_TRUE(WaitFor([&] { return c.AllAgree({0, 1, 2}, 3); }, seconds(30))) << c.Logs();
  // Give w3 several seconds of retrying its seeds; it must never be heard.
  for (int round = 0; round < 10; ++round) {
    std::this_thread::sleep_for(milliseconds(300));
    for (int v : {0, 1, 2}) {
      const std::string state = c.StateOf(v, "w3");
      ASSERT_TRUE(state.empty() || state == "dead") << "w" << v << " sees w3 as " << state;
    }
  }
  EXPECT_TRUE(c.worker(3).running()) << "w3 should keep retrying, not crash";
  // ... and say why it stays alone (it used to run as a silent mesh of one).
  EXPECT_TRUE(WaitFor(
      [&] { return c.worker(3).ReadLog().find("no seed has answered") != std::string::npos; },
      seconds(20)))
      << c.worker(3).ReadLog();
}

}  // namespace
}  // namespace shardmesh::testing
