// The `shardmesh` CLI as a user meets it: usage errors exit 2 before doing anything, files are
// never replaced by surprise, a resume keeps its own epoch. Real processes, bounded waits.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "process.h"

namespace shardmesh::testing {
namespace {

struct CliRun {
  int code = -1;
  std::string output;  // stdout and stderr together
};

class CliUsageTest : public ::testing::Test {
 protected:
  CliRun Cli(std::vector<std::string> args) {
    args.insert(args.begin(), SHARDMESH_BIN);
    const std::string log = dir_.path() + "/run-" + std::to_string(runs_++) + ".log";
    ChildProcess child(std::move(args), log);
    CliRun run;
    const auto code = child.Wait(std::chrono::seconds(60));
    EXPECT_TRUE(code.has_value()) << "the CLI did not exit within 60 s";
    run.code = code.value_or(-1);
    run.output = child.ReadLog();
    return run;
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  TempDir dir_{"cli-usage"};
  int runs_ = 0;
};

TEST_F(CliUsageTest, NegativeCountsAreUsageErrorsNotHugeNumbers) {
  // CLI11 2.1 read "-5" into a 64-bit option as 2^64 - 5: gen then wrote until the disk was full.
  CliRun gen = Cli({"gen", "--out", Path("g"), "--samples", "-5"});
  EXPECT_EQ(gen.code, 2) << gen.output;
  EXPECT_NE(gen.output.find("--samples: must not be negative"), std::string::npos) << gen.output;
  EXPECT_FALSE(std::filesystem::exists(Path("g")));
  ASSERT_EQ(Cli({"gen", "--out", Path("d"), "--samples", "300", "--shards", "2"}).code, 0);
  for (const char* flag : {"--limit", "--seed", "--epoch", "--world-size"}) {
    CliRun read = Cli({"read", Path("d"), flag, "-1"});
    EXPECT_EQ(read.code, 2) << flag << ": " << read.output;
  }
  // Numbers are decimal: strtoull(.., 0) read "010" as 8 and "0x10" as 16, and clamped a value
  // past 2^64 - 1 to it (two different seeds gave the same order).
  CliRun octal = Cli({"read", Path("d"), "--limit", "010", "--ids"});
  ASSERT_EQ(octal.code, 0) << octal.output;
  EXPECT_EQ(std::count(octal.output.begin(), octal.output.end(), '\n'), 10) << octal.output;
  for (const char* value : {"0x10", "1e3", "18446744073709551616", "99999999999999999999999"}) {
    CliRun read = Cli({"read", Path("d"), "--seed", value});
    EXPECT_EQ(read.code, 2) << value << ": " << read.output;
    EXPECT_NE(read.output.find("--seed"), std::string::npos) << read.output;
  }
  CliRun gen_hex = Cli({"gen", "--out", Path("h"), "--samples", "0x100"});
  EXPECT_EQ(gen_hex.code, 2) << gen_hex.output;
  EXPECT_FALSE(std::filesystem::exists(Path("h")));
}

// Sizes that cannot be built are usage errors up front (they ended in bad_alloc aborts, or a
// 15 GB process before the block-size error), and ids that never reach their destination (a
// full disk) fail the command instead of exiting 0 with nothing written.
TEST_F(CliUsageTest, ImpossibleSizesAreUsageErrorsAndLostOutputFails) {
  for (const std::vector<std::string>& extra : {std::vector<std::string>{"--classes", "100000000"},
                                                {"--vocab", "4000000000"},
                                                {"--feature-dim", "300000000", "--classes", "1"}}) {
    std::vector<std::string> args{"gen", "--out", Path("big"), "--samples", "10", "--shards", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun gen = Cli(args);
    EXPECT_EQ(gen.code, 2) << extra[0] << ": " << gen.output;
    EXPECT_NE(gen.output.find("at most"), std::string::npos) << gen.output;
  }
  ASSERT_EQ(Cli({"gen", "--out", Path("d"), "--samples", "300", "--shards", "2"}).code, 0);
  CliRun huge = Cli({"read", Path("d"), "--world-size", "4294967295", "--rank", "0"});
  EXPECT_EQ(huge.code, 2) << huge.output;
  EXPECT_NE(huge.output.find("world_size must be at most"), std::string::npos) << huge.output;
  for (const char* kib : {"0", "600000", "18014398509481984"}) {  // the last overflowed * 1024
    CliRun block = Cli({"gen", "--out", Path("b"), "--samples", "10", "--block-kib", kib});
    EXPECT_EQ(block.code, 2) << kib << ": " << block.output;
    EXPECT_NE(block.output.find("--block-kib"), std::string::npos) << block.output;
  }
  CliRun budget = Cli({"read", Path("d"), "--prefetch-mib", "17592186044416"});  // 2^44: << 20
  EXPECT_EQ(budget.code, 2) << budget.output;                                    // overflowed
  EXPECT_NE(budget.output.find("--prefetch-mib"), std::string::npos) << budget.output;
  ChildProcess full({SHARDMESH_BIN, "read", Path("d"), "--world-size", "1", "--rank", "0", "--ids"},
                    "/dev/full");
  EXPECT_EQ(full.Wait(std::chrono::seconds(60)).value_or(-1), 1);
}

TEST_F(CliUsageTest, ParserErrorsExitTwoAndHelpExitsZero) {
  EXPECT_EQ(Cli({}).code, 2);
  EXPECT_EQ(Cli({"gen", "--out", Path("x"), "--bogus"}).code, 2);
  EXPECT_EQ(Cli({"read"}).code, 2);
  EXPECT_EQ(Cli({"--help"}).code, 0);
  EXPECT_EQ(Cli({"read", "--help"}).code, 0);
  CliRun typo = Cli({"raed", Path("d")});  // CLI11 alone said "A subcommand is required"
  EXPECT_EQ(typo.code, 2);
  EXPECT_NE(typo.output.find("unknown command 'raed' (commands: gen, pack, inspect, read"),
            std::string::npos)
      << typo.output;
}

TEST_F(CliUsageTest, StatusChecksItsArgumentsBeforeWaitingAndNamesThem) {
  const std::string nobody = "tcp://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  for (const auto& [args, expect] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--connect", nobody, "--timeout", "abc"}, "--timeout"},
           {{"--connect", nobody, "--timeout", "100000000000000000000s"}, "too long"},
           {{"--connect", nobody, "--timeout", "0"}, "--timeout: must be positive"},
           {{"--connect", "127.0.0.1:7201"}, "--connect: '127.0.0.1:7201' is not a tcp://"},
           {{"--connect", "tcp://127.0.0.1:99999"}, "no valid port"},
           {{"--connect", nobody, "--config", Path("missing.toml")}, "missing.toml"}}) {
    std::vector<std::string> argv = {"status"};
    argv.insert(argv.end(), args.begin(), args.end());
    CliRun run = Cli(argv);
    EXPECT_EQ(run.code, 2) << run.output;
    EXPECT_NE(run.output.find(expect), std::string::npos) << run.output;
  }
  // Well-formed, but nobody answers: a runtime error after the timeout.
  CliRun silent = Cli({"status", "--connect", nobody, "--timeout", "200ms"});
  EXPECT_EQ(silent.code, 1) << silent.output;
}

TEST_F(CliUsageTest, CheckpointOutNeverReplacesANonRegularFileOrTakesAnEmptyName) {
  ASSERT_EQ(Cli({"gen", "--out", Path("d"), "--samples", "300", "--shards", "2"}).code, 0);
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0600), 0);
  CliRun fifo = Cli({"read", Path("d"), "--limit", "10", "--checkpoint-out", Path("fifo")});
  EXPECT_EQ(fifo.code, 2) << fifo.output;
  EXPECT_NE(fifo.output.find("not a regular file"), std::string::npos) << fifo.output;
  EXPECT_TRUE(std::filesystem::is_fifo(Path("fifo")));
  CliRun empty = Cli({"read", Path("d"), "--limit", "10", "--checkpoint-out", ""});
  EXPECT_EQ(empty.code, 2) << empty.output;
  EXPECT_NE(empty.output.find("empty file name"), std::string::npos) << empty.output;
  // A missing directory is found before the epoch is read, not after.
  CliRun nodir = Cli({"read", Path("d"), "--limit", "10", "--checkpoint-out", Path("no/ck")});
  EXPECT_EQ(nodir.code, 1) << nodir.output;
  EXPECT_NE(nodir.output.find("no/ck: directory " + Path("no") + " does not exist"),
            std::string::npos)
      << nodir.output;
}

// Field names are any JSON keys: as .npy file names they never lead out of the directory.
TEST_F(CliUsageTest, ExportNpyKeepsEveryFieldInsideItsDirectory) {
  std::ofstream(Path("in.jsonl")) << "{\"../up\": 1.5, \".hidden\": 2, \"a/b\": 3, \"c%\": 4}\n"
                                  << "{\"../up\": 2.5, \".hidden\": 5, \"a/b\": 6, \"c%\": 7}\n";
  ASSERT_EQ(
      Cli({"pack", "--input", Path("in.jsonl"), "--format", "jsonl", "--out", Path("d")}).code, 0);
  std::filesystem::create_directory(Path("npy"));
  CliRun out = Cli({"read", Path("d"), "--export-npy", Path("npy")});
  ASSERT_EQ(out.code, 0) << out.output;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(Path("npy"))) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"%2E.%2Fup.npy", "%2Ehidden.npy", "a%2Fb.npy", "c%25.npy"}));
  EXPECT_FALSE(std::filesystem::exists(Path("up.npy")));
  // The export is of the whole dataset: a share of it is refused, not silently ignored.
  CliRun ranked = Cli({"read", Path("d"), "--export-npy", Path("npy"), "--rank", "0"});
  EXPECT_EQ(ranked.code, 2) << ranked.output;
  EXPECT_NE(ranked.output.find("it takes no --rank"), std::string::npos) << ranked.output;
  // So is every other read option (a --checkpoint-out was checked, then never written).
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--checkpoint-out", Path("ck")},
        {"--bench"},
        {"--ids"},
        {"--strategy", "hash"},
        {"--epoch", "4"}}) {
    std::vector<std::string> args{"read", Path("d"), "--export-npy", Path("npy2")};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun run = Cli(args);
    EXPECT_EQ(run.code, 2) << extra[0] << ": " << run.output;
    EXPECT_NE(run.output.find("it takes no " + extra[0]), std::string::npos) << run.output;
  }
}

TEST_F(CliUsageTest, ResumeRefusesAnotherEpochAndContinuesItsOwn) {
  ASSERT_EQ(Cli({"gen", "--out", Path("d"), "--samples", "300", "--shards", "2"}).code, 0);
  ASSERT_EQ(
      Cli({"read", Path("d"), "--epoch", "2", "--limit", "100", "--checkpoint-out", Path("ck")})
          .code,
      0);
  CliRun other = Cli({"read", Path("d"), "--epoch", "3", "--resume", Path("ck")});
  EXPECT_EQ(other.code, 2) << other.output;
  EXPECT_NE(other.output.find("epoch 2, --epoch says 3"), std::string::npos) << other.output;
  EXPECT_EQ(Cli({"read", Path("d"), "--epoch", "2", "--resume", Path("ck")}).code, 0);
  EXPECT_EQ(Cli({"read", Path("d"), "--resume", Path("ck")}).code, 0);
}

TEST_F(CliUsageTest, KeygenNeverReplacesAKeyFileWithoutForce) {
  ASSERT_EQ(Cli({"keygen", "--out", Path("k.toml")}).code, 0);
  const std::string first = ReadAll(Path("k.toml"));
  ASSERT_NE(first.find("curve_secret"), std::string::npos) << first;
  CliRun again = Cli({"keygen", "--out", Path("k.toml")});
  EXPECT_EQ(again.code, 2) << again.output;
  EXPECT_NE(again.output.find("--force"), std::string::npos) << again.output;
  EXPECT_EQ(ReadAll(Path("k.toml")), first);
  EXPECT_EQ(Cli({"keygen", "--out", Path("k.toml"), "--force"}).code, 0);
  EXPECT_NE(ReadAll(Path("k.toml")), first);
  CliRun stray = Cli({"keygen", "--force"});  // nothing to replace: a mistaken command line
  EXPECT_EQ(stray.code, 2) << stray.output;
  EXPECT_EQ(stray.output.find("curve_secret"), std::string::npos) << "printed a key anyway";
  CliRun empty = Cli({"keygen", "--out", ""});  // an unset variable in a script
  EXPECT_EQ(empty.code, 2) << empty.output;
  EXPECT_EQ(empty.output.find("curve_secret"), std::string::npos) << "printed the secret key";
}

// An error about one item of a list key names where the list came from (the lookup used the
// item's name, "allowed_peers[0]", and found no source).
TEST_F(CliUsageTest, AnErrorInAListItemNamesTheFlagThatGaveIt) {
  ASSERT_EQ(Cli({"keygen", "--server", "--out", Path("server.toml")}).code, 0);
  ASSERT_EQ(Cli({"keygen", "--out", Path("member.toml")}).code, 0);
  {
    std::ofstream config(Path("w.toml"));
    config << "name = \"w\"\nbind = \"tcp://127.0.0.1:0\"\n"
           << ReadAll(Path("server.toml")) << ReadAll(Path("member.toml"));
  }
  CliRun run = Cli({"worker", "--config", Path("w.toml"), "--allowed_peers", "abc"});
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("--allowed_peers: curve key 'allowed_peers[0]'"), std::string::npos)
      << run.output;
}

// --field-type: a malformed or repeated entry or an unknown type is a usage error (exit 2,
// nothing written); a valid one changes the packed dtype; a data error points at the flag.
TEST_F(CliUsageTest, PackFieldTypeIsCheckedAndApplied) {
  {
    std::ofstream in(Path("in.jsonl"));
    in << "{\"emb\": [1, 2], \"y\": 1}\n{\"emb\": [0.5, 2], \"y\": 0}\n";
  }
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--field-type", "emb"},
        {"--field-type", "emb=flot"},
        {"--field-type", "emb=float32", "--field-type", "emb=int64"}}) {
    std::vector<std::string> args = {"pack", "--input", Path("in.jsonl"), "--out", Path("bad")};
    args.insert(args.end(), bad.begin(), bad.end());
    CliRun run = Cli(args);
    EXPECT_EQ(run.code, 2) << bad.back() << ": " << run.output;
    EXPECT_NE(run.output.find("--field-type"), std::string::npos) << run.output;
    EXPECT_FALSE(std::filesystem::exists(Path("bad")));
  }
  CliRun inferred = Cli({"pack", "--input", Path("in.jsonl"), "--out", Path("int")});
  EXPECT_EQ(inferred.code, 1) << inferred.output;
  EXPECT_NE(inferred.output.find("--field-type emb=float32"), std::string::npos) << inferred.output;
  CliRun typed = Cli({"pack", "--input", Path("in.jsonl"), "--out", Path("f32"), "--field-type",
                      "emb=float32", "--field-type", "y=float64"});
  EXPECT_EQ(typed.code, 0) << typed.output;
  EXPECT_NE(typed.output.find("emb: tensor float32 [2]"), std::string::npos) << typed.output;
  EXPECT_NE(typed.output.find("y: float64"), std::string::npos) << typed.output;
}

// A .csv input is read as CSV without --format (as JSON it failed at line 1); --format still
// decides when given.
TEST_F(CliUsageTest, PackTakesTheFormatFromACsvExtension) {
  {
    std::ofstream in(Path("table.CSV"));
    in << "a,b\n1,x\n2,y\n";
  }
  CliRun csv = Cli({"pack", "--input", Path("table.CSV"), "--out", Path("csv")});
  EXPECT_EQ(csv.code, 0) << csv.output;
  EXPECT_NE(csv.output.find("packed 2 samples"), std::string::npos) << csv.output;
  CliRun forced =
      Cli({"pack", "--input", Path("table.CSV"), "--format", "jsonl", "--out", Path("json")});
  EXPECT_EQ(forced.code, 1) << forced.output;
  EXPECT_NE(forced.output.find("malformed JSON"), std::string::npos) << forced.output;
}

// --throughputs hands the adaptive strategy its per-rank weights (it used to split evenly from
// the CLI): shares follow them in whole partitions, and the ranks still cover the epoch once.
TEST_F(CliUsageTest, ReadAdaptiveFollowsThroughputs) {
  ASSERT_EQ(Cli({"gen", "--out", Path("d"), "--samples", "4000", "--block-kib", "16"}).code, 0);
  std::vector<std::vector<std::string>> ids(2);
  for (int rank = 0; rank < 2; ++rank) {
    CliRun run = Cli({"read", Path("d"), "--world-size", "2", "--rank", std::to_string(rank),
                      "--strategy", "adaptive", "--throughputs", "1,3", "--ids"});
    ASSERT_EQ(run.code, 0) << run.output;
    std::istringstream lines(run.output);
    for (std::string line; std::getline(lines, line);) ids[rank].push_back(line);
  }
  EXPECT_NEAR(static_cast<double>(ids[0].size()), 1000.0, 100.0);
  EXPECT_EQ(ids[0].size() + ids[1].size(), 4000u);
  std::vector<std::string> all = ids[0];
  all.insert(all.end(), ids[1].begin(), ids[1].end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());
  for (const char* bad : {"1", "1,-2", "1,x"}) {
    CliRun run = Cli(
        {"read", Path("d"), "--world-size", "2", "--strategy", "adaptive", "--throughputs", bad});
    EXPECT_EQ(run.code, 2) << bad << ": " << run.output;
  }
}

}  // namespace
}  // namespace shardmesh::testing
