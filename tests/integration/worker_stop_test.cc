// SIGTERM stops a data worker gracefully (exit 0) wherever it waits: for the dataset catalog
// from peers, for placement, for the epoch's members. Before these waits took the stop
// signal, a worker sat out the whole timeout (60 s for the catalog) and then exited 1.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "process.h"

namespace shardmesh::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class WorkerStopTest : public ::testing::Test {
 protected:
  // Starts one worker with `config` (plus name, bind and data_dir) and waits for `line` in
  // its log.
  ChildProcess StartWorker(const std::string& config, const std::string& line) {
    const std::string path = dir_.path() + "/w.toml";
    WriteTextFile(
        path, "name = \"w\"\nbind = \"tcp://127.0.0.1:" + std::to_string(FreeLoopbackPort()) +
                  "\"\ndata_dir = \"" + dir_.path() + "/store\"\nlog_level = \"info\"\n" + config);
    ChildProcess worker({SHARDMESH_BIN, "worker", "--config", path}, dir_.path() + "/w.log");
    EXPECT_TRUE(
        WaitFor([&] { return worker.ReadLog().find(line) != std::string::npos; }, seconds(30)))
        << worker.ReadLog();
    return worker;
  }

  // A 2,000-sample dataset in <dir>/data (DataConfig() points a worker at it).
  void GenerateDataset() {
    ChildProcess gen({SHARDMESH_BIN, "gen", "--out", dir_.path() + "/data", "--samples", "2000",
                      "--shards", "2"},
                     dir_.path() + "/gen.log");
    ASSERT_EQ(gen.Wait(seconds(60)), 0) << gen.ReadLog();
  }
  std::string DataConfig() const { return "dataset = \"" + dir_.path() + "/data\"\nepochs = 1\n"; }

  // The endpoint a started worker logged ("listening on tcp://...").
  static std::string EndpointOf(ChildProcess& worker) {
    const std::string log = worker.ReadLog();
    const std::size_t at = log.find("listening on ");
    if (at == std::string::npos) return "";
    const std::size_t begin = at + 13;
    return log.substr(begin, log.find(' ', begin) - begin);
  }

  // SIGTERM, then the exit code within `within`.
  static std::optional<int> Stop(ChildProcess& worker, milliseconds within) {
    worker.Signal(SIGTERM);
    return worker.Wait(within);
  }

  TempDir dir_{"worker-stop"};
};

TEST_F(WorkerStopTest, SigtermWhileFetchingTheCatalogLeavesAndExitsZero) {
  // No dataset and no peer: the worker asks peers for the catalog (60 s by default).
  ChildProcess worker = StartWorker("", "fetching the catalog from peers");
  const auto code = Stop(worker, milliseconds(5000));
  ASSERT_TRUE(code.has_value()) << "still running 5 s after SIGTERM\n" << worker.ReadLog();
  EXPECT_EQ(*code, 0) << worker.ReadLog();
  EXPECT_NE(worker.ReadLog().find("stopped before the job started"), std::string::npos)
      << worker.ReadLog();
}

TEST_F(WorkerStopTest, SigtermWhileWaitingForMembersLeavesAndExitsZero) {
  // A dataset, but min_members = 2 alone: placement then the epoch start wait (30 s, 60 s).
  ASSERT_NO_FATAL_FAILURE(GenerateDataset());
  ChildProcess worker = StartWorker(
      DataConfig() + "min_members = 2\n", "listening on");
  const auto code = Stop(worker, milliseconds(5000));
  ASSERT_TRUE(code.has_value()) << "still running 5 s after SIGTERM\n" << worker.ReadLog();
  EXPECT_EQ(*code, 0) << worker.ReadLog();
  EXPECT_NE(worker.ReadLog().find("leaving the mesh"), std::string::npos) << worker.ReadLog();
}

// ids_out that cannot be written ends the worker with exit 1 naming the file: it exited 0
// having written no id, while commits covering them went out.
TEST_F(WorkerStopTest, IdsThatCannotBeWrittenFailTheWorkerNamingTheFile) {
  ASSERT_NO_FATAL_FAILURE(GenerateDataset());
  ChildProcess worker =
      StartWorker(DataConfig() + "replication = 1\nids_out = \"/dev/full\"\n", "listening on");
  const auto code = worker.Wait(seconds(30));
  ASSERT_TRUE(code.has_value()) << worker.ReadLog();
  EXPECT_EQ(*code, 1) << worker.ReadLog();
  EXPECT_NE(worker.ReadLog().find("ids_out /dev/full: write failed"), std::string::npos)
      << worker.ReadLog();
}

// start_timeout bounds the wait for min_members before the first epoch: it came only after
// the whole placement_timeout (30 s), which also waited for the members.
TEST_F(WorkerStopTest, MissingMembersEndTheWorkerAfterStartTimeout) {
  ASSERT_NO_FATAL_FAILURE(GenerateDataset());
  ChildProcess worker =
      StartWorker(DataConfig() + "min_members = 2\nstart_timeout = \"1s\"\n", "listening on");
  const auto code = worker.Wait(seconds(15));
  ASSERT_TRUE(code.has_value()) << "still waiting 15 s into a 1 s start_timeout\n"
                                << worker.ReadLog();
  EXPECT_EQ(*code, 1) << worker.ReadLog();
  EXPECT_NE(worker.ReadLog().find("only 1 of the 2 members needed (min_members)"),
            std::string::npos)
      << worker.ReadLog();
}

// A dataset that does not open is refused before the worker joins the mesh (its peers saw it
// join, die and stay dead, which moved the ring), naming the key: a running peer it names as
// seed never hears of it.
TEST_F(WorkerStopTest, ADatasetThatDoesNotOpenIsRefusedBeforeJoining) {
  ASSERT_NO_FATAL_FAILURE(GenerateDataset());
  ChildProcess peer = StartWorker(DataConfig() + "min_members = 2\n", "listening on");  // "w"
  const std::string peer_endpoint = EndpointOf(peer);
  ASSERT_FALSE(peer_endpoint.empty()) << peer.ReadLog();
  const std::string path = dir_.path() + "/bad.toml";
  WriteTextFile(path, "name = \"bad\"\nbind = \"tcp://127.0.0.1:" +
                          std::to_string(FreeLoopbackPort()) + "\"\ndata_dir = \"" +
                          dir_.path() + "/bad-store\"\nseeds = [\"" + peer_endpoint +
                          "\"]\ndataset = \"" + dir_.path() + "/missing\"\nepochs = 1\n");
  ChildProcess worker({SHARDMESH_BIN, "worker", "--config", path}, dir_.path() + "/bad.log");
  const auto code = worker.Wait(seconds(15));
  ASSERT_TRUE(code.has_value()) << worker.ReadLog();
  EXPECT_EQ(*code, 1) << worker.ReadLog();
  EXPECT_NE(worker.ReadLog().find("key 'dataset'"), std::string::npos) << worker.ReadLog();
  std::this_thread::sleep_for(milliseconds(500));  // a join would have reached the peer by now
  EXPECT_EQ(peer.ReadLog().find("member bad join"), std::string::npos) << peer.ReadLog();
  EXPECT_EQ(Stop(peer, milliseconds(5000)), 0) << peer.ReadLog();
}

// Getting the catalog is part of starting: start_timeout bounds it (it waited 60 s, whatever
// start_timeout said, and said nothing meanwhile).
TEST_F(WorkerStopTest, NoCatalogWithinStartTimeoutExitsOneNamingIt) {
  ChildProcess worker = StartWorker("epochs = 1\nstart_timeout = \"1s\"\n",
                                    "fetching the catalog from peers");
  const auto code = worker.Wait(seconds(15));
  ASSERT_TRUE(code.has_value()) << "still waiting 15 s into a 1 s start_timeout\n"
                                << worker.ReadLog();
  EXPECT_EQ(*code, 1) << worker.ReadLog();
  EXPECT_NE(worker.ReadLog().find("no peer served the dataset catalog within 1000 ms"),
            std::string::npos)
      << worker.ReadLog();
}

}  // namespace
}  // namespace shardmesh::testing
