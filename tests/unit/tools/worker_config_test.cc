#include "worker_config.h"

#include <gtest/gtest.h>

namespace shardmesh::tools {
namespace {

class WorkerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { BindWorkerKeys(keys_, &config_); }
  WorkerConfig config_;
  ConfigKeys keys_{"SHARDMESH_WCT_"};
};

TEST_F(WorkerConfigTest, FourNodeConfigParsesAndValidates) {
  ASSERT_TRUE(keys_
                  .ApplyToml(R"(
name = "w2"
bind = "tcp://127.0.0.1:7102"
seeds = ["tcp://127.0.0.1:7101"]
replication = 3
probe_interval = "200ms"
fault_partition_from = ["w3"]
persist_interval = "1s"
commit_broadcast_gap = "2ms"
)",
                             "w2.toml")
                  .ok());
  EXPECT_TRUE(ValidateWorkerConfig(config_).ok());
  EXPECT_EQ(config_.replication, 3);
  EXPECT_EQ(config_.probe_interval, std::chrono::milliseconds(200));
  EXPECT_EQ(config_.fault_partition_from, std::vector<std::string>{"w3"});
  EXPECT_EQ(config_.persist_interval, std::chrono::seconds(1));
  EXPECT_EQ(config_.commit_broadcast_gap, std::chrono::milliseconds(2));
}

TEST_F(WorkerConfigTest, MissingNameIsRejected) {
  Status s = ValidateWorkerConfig(config_);
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("'name'"), std::string::npos);
}

TEST_F(WorkerConfigTest, NameThatIsNotUtf8IsRejected) {
  config_.name = "w\xff";
  Status s = ValidateWorkerConfig(config_);
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("'name': 'w\\xFF' is not valid UTF-8"), std::string::npos)
      << s.message();
}

TEST_F(WorkerConfigTest, NonLoopbackSchemeAndBadNumbersAreRejectedNamingKey) {
  config_.name = "w";
  config_.bind = "udp://127.0.0.1:1";
  EXPECT_NE(ValidateWorkerConfig(config_).message().find("'bind'"), std::string::npos);
  config_.bind = "tcp://127.0.0.1:0";
  config_.replication = 0;
  EXPECT_NE(ValidateWorkerConfig(config_).message().find("'replication'"), std::string::npos);
  config_.replication = 2;
  config_.fault_drop_rate = 1.5;
  EXPECT_NE(ValidateWorkerConfig(config_).message().find("'fault_drop_rate'"), std::string::npos);
  config_.fault_drop_rate = 0;
  config_.fault_partition_for = std::chrono::seconds(2);  // a timed partition of no peers
  EXPECT_NE(ValidateWorkerConfig(config_).message().find("'fault_partition_for'"),
            std::string::npos);
  config_.fault_partition_from = {"w2"};
  EXPECT_TRUE(ValidateWorkerConfig(config_).ok());
}

// Integers the mesh keeps in 32 bits have bounds: 99999999999 vnodes used to be truncated (or
// grow the worker to gigabytes until the OOM killer came), and negative suspicion_mult or
// indirect_checks silently meant "default".
TEST_F(WorkerConfigTest, IntegerKeysOutsideTheirRangeAreRejectedWithTheRange) {
  config_.name = "w";
  config_.bind = "tcp://127.0.0.1:0";
  ASSERT_TRUE(ValidateWorkerConfig(config_).ok());
  struct Case {
    std::int64_t WorkerConfig::*field;
    std::int64_t value;
    const char* expect;
  };
  for (const Case& c : {Case{&WorkerConfig::vnodes, 99999999999, "'vnodes': 99999999999 is outside 1..4096"},
                        Case{&WorkerConfig::vnodes, 4294967297, "'vnodes'"},
                        Case{&WorkerConfig::partitions, 65537, "'partitions'"},
                        Case{&WorkerConfig::replication, 65, "'replication'"},
                        Case{&WorkerConfig::min_members, 0, "'min_members'"},
                        Case{&WorkerConfig::suspicion_mult, -3, "'suspicion_mult': -3 is outside 0..100"},
                        Case{&WorkerConfig::indirect_checks, -1, "'indirect_checks'"}}) {
    WorkerConfig bad = config_;
    bad.*c.field = c.value;
    const Status s = ValidateWorkerConfig(bad);
    EXPECT_TRUE(s.IsInvalidArgument()) << c.expect;
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << s.message();
  }
}

TEST_F(WorkerConfigTest, EndpointsAndLogLevelAreCheckedNamingKeyAndValue) {
  config_.name = "w";
  struct Case {
    std::string bind, advertise;
    std::vector<std::string> seeds;
    std::string log_level, expect;
  };
  const std::vector<Case> bad = {
      {"tcp://127.0.0.1:99999", "", {}, "info", "key 'bind': 'tcp://127.0.0.1:99999'"},
      {"tcp://127.0.0.1", "", {}, "info", "key 'bind': 'tcp://127.0.0.1' has no port"},
      {"tcp://127.0.0.1:0", "", {"nonsense"}, "info", "key 'seeds': 'nonsense'"},
      {"tcp://127.0.0.1:0", "", {"tcp://127.0.0.1:0"}, "info", "key 'seeds'"},
      {"tcp://127.0.0.1:0", "tcp://:7000", {}, "info", "key 'advertise'"},
      {"tcp://127.0.0.1:0", "", {}, "loud", "key 'log_level': 'loud'"},
  };
  for (const Case& c : bad) {
    config_.bind = c.bind;
    config_.advertise = c.advertise;
    config_.seeds = c.seeds;
    config_.log_level = c.log_level;
    const Status s = ValidateWorkerConfig(config_);
    EXPECT_TRUE(s.IsInvalidArgument()) << c.expect;
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << s.message();
  }
  config_.bind = "tcp://127.0.0.1:*";
  config_.advertise = "tcp://127.0.0.1:7101";
  config_.seeds = {"tcp://127.0.0.1:7101", "tcp://127.0.0.1:65535"};
  config_.log_level = "warn";
  EXPECT_TRUE(ValidateWorkerConfig(config_).ok()) << ValidateWorkerConfig(config_).message();
}

TEST_F(WorkerConfigTest, PartialCurveKeysAreRejected) {
  config_.name = "w";
  config_.curve_public = "abc";
  Status s = ValidateWorkerConfig(config_);
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("curve"), std::string::npos);
}

}  // namespace
}  // namespace shardmesh::tools
