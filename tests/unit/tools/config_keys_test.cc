#include "config_keys.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace shardmesh::tools {
namespace {

struct Sample {
  std::string name = "node";
  std::int64_t vnodes = 128;
  double drop_rate = 0.0;
  bool serve_after = false;
  std::chrono::milliseconds probe_interval{200};
  std::vector<std::string> seeds;
};

class ConfigKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_.AddString("name", &c_.name, "node name");
    keys_.AddInt("vnodes", &c_.vnodes, "virtual nodes");
    keys_.AddDouble("drop_rate", &c_.drop_rate, "drop rate");
    keys_.AddBool("serve_after", &c_.serve_after, "keep serving");
    keys_.AddDuration("probe_interval", &c_.probe_interval, "probe interval");
    keys_.AddList("seeds", &c_.seeds, "seed endpoints");
  }
  Sample c_;
  ConfigKeys keys_{"SHARDMESH_TEST_"};
};

TEST_F(ConfigKeysTest, TomlSetsEveryType) {
  ASSERT_TRUE(keys_.ApplyToml(R"(
name = "w1"
vnodes = 64
drop_rate = 0.25
serve_after = true
probe_interval = "1s"
seeds = ["tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002"]
)", "w1.toml").ok());
  EXPECT_EQ(c_.name, "w1");
  EXPECT_EQ(c_.vnodes, 64);
  EXPECT_DOUBLE_EQ(c_.drop_rate, 0.25);
  EXPECT_TRUE(c_.serve_after);
  EXPECT_EQ(c_.probe_interval, std::chrono::seconds(1));
  ASSERT_EQ(c_.seeds.size(), 2u);
  EXPECT_EQ(c_.seeds[1], "tcp://127.0.0.1:7002");
}

TEST_F(ConfigKeysTest, UnknownKeyIsRejectedNamingKeyAndFile) {
  Status s = keys_.ApplyToml("vnodez = 3\n", "w1.toml");
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("vnodez"), std::string::npos);
  EXPECT_NE(s.message().find("w1.toml"), std::string::npos);
}

TEST_F(ConfigKeysTest, BadValueNamesKeyAndSource) {
  Status s = keys_.ApplyToml("vnodes = \"many\"\n", "w1.toml");
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("vnodes"), std::string::npos);
  EXPECT_NE(s.message().find("many"), std::string::npos);
}

TEST_F(ConfigKeysTest, AnArrayForAKeyThatIsNotAListIsRejected) {
  Status s = keys_.ApplyToml("name = [\"a\", \"b\"]\n", "w1.toml");
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(), "w1.toml: key 'name': expected a string, got an array");
  EXPECT_EQ(c_.name, "node");  // unchanged, not "a,b"
  EXPECT_TRUE(keys_.ApplyToml("vnodes = [3]\n", "w1.toml").IsInvalidArgument());
  EXPECT_TRUE(keys_.ApplyToml("seeds = [\"tcp://127.0.0.1:1\"]\n", "w1.toml").ok());
}

TEST_F(ConfigKeysTest, SyntaxErrorNamesFileAndLine) {
  Status s = keys_.ApplyToml("name = \"a\"\nvnodes = = 3\n", "bad.toml");
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("bad.toml:2"), std::string::npos) << s.message();
}

TEST_F(ConfigKeysTest, EnvironmentOverridesFileAndFlagOverridesEnvironment) {
  CLI::App app;
  keys_.AddFlags(app);
  const char* argv[] = {"x", "--vnodes", "32"};
  app.parse(3, const_cast<char**>(argv));
  ::setenv("SHARDMESH_TEST_VNODES", "16", 1);
  ::setenv("SHARDMESH_TEST_NAME", "from-env", 1);
  ASSERT_TRUE(keys_.Set("name", "from-file", "f.toml").ok());
  ASSERT_TRUE(keys_.Apply("").ok());
  ::unsetenv("SHARDMESH_TEST_VNODES");
  ::unsetenv("SHARDMESH_TEST_NAME");
  EXPECT_EQ(c_.vnodes, 32);       // flag beats env
  EXPECT_EQ(c_.name, "from-env");  // env beats file
}

// Errors found after parsing (ranges) name where the value came from; an empty environment
// value counts as unset (as an empty flag does); a misspelt variable is reported.
TEST_F(ConfigKeysTest, SourcesEmptyValuesAndUnknownEnvironmentVariables) {
  CLI::App app;
  keys_.AddFlags(app);
  const char* argv[] = {"x", "--vnodes", "32"};
  app.parse(3, const_cast<char**>(argv));
  ASSERT_TRUE(keys_.Set("name", "from-file", "f.toml").ok());
  ASSERT_TRUE(keys_.Set("drop_rate", "0.5", "f.toml").ok());
  ::setenv("SHARDMESH_TEST_NAME", "", 1);
  ::setenv("SHARDMESH_TEST_DROP_RATE", "0.25", 1);
  ::setenv("SHARDMESH_TEST_PROBE_INTERVALL", "1s", 1);
  const Status s = keys_.Apply("");
  ::unsetenv("SHARDMESH_TEST_NAME");
  ::unsetenv("SHARDMESH_TEST_DROP_RATE");
  ::unsetenv("SHARDMESH_TEST_PROBE_INTERVALL");
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c_.name, "from-file");
  EXPECT_EQ(keys_.SourceOf("name"), "f.toml");
  EXPECT_EQ(keys_.SourceOf("drop_rate"), "environment SHARDMESH_TEST_DROP_RATE");
  EXPECT_EQ(keys_.SourceOf("vnodes"), "--vnodes");
  EXPECT_EQ(keys_.SourceOf("seeds"), "");
  EXPECT_EQ(keys_.unknown_env(), std::vector<std::string>{"SHARDMESH_TEST_PROBE_INTERVALL"});
}

TEST(ParseDurationTest, UnitsAndErrors) {
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("2s"), std::chrono::milliseconds(2000));
  EXPECT_EQ(*ParseDuration("1m"), std::chrono::milliseconds(60000));
  EXPECT_EQ(*ParseDuration("75"), std::chrono::milliseconds(75));
  // A count too large for the clock used to wrap to 0 ms.
  EXPECT_TRUE(ParseDuration("100000000000000000000s").status().IsInvalidArgument());
  EXPECT_EQ(*ParseDuration("1000000m"), std::chrono::milliseconds(60000000000));
  EXPECT_EQ(*ParseDuration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_FALSE(ParseDuration("fast").ok());
  EXPECT_FALSE(ParseDuration("3h").ok());
  EXPECT_FALSE(ParseDuration("").ok());
}

TEST_F(ConfigKeysTest, ReferenceListsEveryKeyWithDefault) {
  const std::string ref = keys_.Reference();
  for (const char* k : {"name", "vnodes", "drop_rate", "serve_after", "probe_interval", "seeds"})
    EXPECT_NE(ref.find(std::string("`") + k + "`"), std::string::npos) << k;
  EXPECT_NE(ref.find("`200ms`"), std::string::npos);
}

}  // namespace
}  // namespace shardmesh::tools
