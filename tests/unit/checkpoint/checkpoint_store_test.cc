#include "shardmesh/checkpoint/checkpoint_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint_test_util.h"
#include "shardmesh/checkpoint/checkpoint_file.h"

namespace shardmesh::checkpoint {
namespace {

using testing::FlipByte;
using testing::LogCapture;
using testing::ReadAll;
using testing::ScratchDir;
using testing::WriteAll;

std::string PayloadFor(std::uint64_t seq) { return "state of commit " + std::to_string(seq); }

class CheckpointStoreTest : public ::testing::Test {
 protected:
  CheckpointStore MakeStore(std::uint32_t keep_last = 3, std::string prefix = "stream") {
    CheckpointStoreOptions o;
    o.keep_last = keep_last;
    o.prefix = std::move(prefix);
    auto store = CheckpointStore::Create(dir_.path(), o);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }
  void SaveAll(CheckpointStore& store, const std::vector<std::uint64_t>& seqs) {
    for (std::uint64_t s : seqs) {
      ASSERT_TRUE(store.Save(s, AsBytes(PayloadFor(s))).ok()) << s;
    }
  }
  std::vector<std::uint64_t> Sequences(const CheckpointStore& store) {
    auto files = store.List();
    EXPECT_TRUE(files.ok()) << files.status().ToString();
    std::vector<std::uint64_t> out;
    for (const auto& f : *files) out.push_back(f.sequence);
    return out;
  }
  ScratchDir dir_;
};

TEST_F(CheckpointStoreTest, LoadLatestReturnsNewestSavedPayloadAndSequence) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {1, 2, 3});
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->sequence, 3u);
  EXPECT_EQ(latest->payload, PayloadFor(3));
  EXPECT_EQ(latest->path, store.PathFor(3));
}

TEST_F(CheckpointStoreTest, SavedFileIsFramedAndReadableByTheDecoder) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {42});
  const std::string bytes = ReadAll(store.PathFor(42));
  auto view = DecodeCheckpointFile(AsBytes(bytes));
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->sequence, 42u);
  EXPECT_EQ(AsChars(view->payload), PayloadFor(42));
  EXPECT_EQ(bytes.size(), kCheckpointHeaderSize + PayloadFor(42).size());
}

TEST_F(CheckpointStoreTest, EmptyPayloadRoundTrips) {
  CheckpointStore store = MakeStore();
  ASSERT_TRUE(store.Save(7, {}).ok());
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->sequence, 7u);
  EXPECT_TRUE(latest->payload.empty());
}

TEST_F(CheckpointStoreTest, PrunesToKeepLastNewest) {
  CheckpointStore store = MakeStore(3);
  SaveAll(store, {1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(Sequences(store), (std::vector<std::uint64_t>{5, 6, 7}));
  CheckpointStore one = MakeStore(1);
  SaveAll(one, {8});
  EXPECT_EQ(Sequences(one), (std::vector<std::uint64_t>{8}));
}

TEST_F(CheckpointStoreTest, WriteLeavesOldFilesUntilPrune) {
  CheckpointStore store = MakeStore(2);
  for (std::uint64_t s : {1, 2, 3, 4}) ASSERT_TRUE(store.Write(s, AsBytes(PayloadFor(s))).ok());
  EXPECT_EQ(Sequences(store), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  store.Prune();
  EXPECT_EQ(Sequences(store), (std::vector<std::uint64_t>{3, 4}));
}

TEST_F(CheckpointStoreTest, PruneNeverDeletesTheLastWrittenEvenIfOlderThanOthers) {
  CheckpointStore earlier_run = MakeStore(2);
  SaveAll(earlier_run, {50, 60});
  CheckpointStore store = MakeStore(2);  // a restart that resumes from an older commit
  SaveAll(store, {7});
  EXPECT_EQ(Sequences(store), (std::vector<std::uint64_t>{7, 50, 60}));
}

TEST_F(CheckpointStoreTest, OrdersBySequenceNotByDecimalText) {
  // As text, "9" > "10" > "1000" > "100": a store ordering names naively would pick 9.
  CheckpointStore store = MakeStore(3);
  SaveAll(store, {2, 9, 10, 11, 100, 1000});
  EXPECT_EQ(Sequences(store), (std::vector<std::uint64_t>{11, 100, 1000}));
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, 1000u);
  EXPECT_EQ(latest->payload, PayloadFor(1000));
}

TEST_F(CheckpointStoreTest, LargestSequenceFitsTheName) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {UINT64_MAX - 1, UINT64_MAX});
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, UINT64_MAX);
}

TEST_F(CheckpointStoreTest, CorruptNewestIsSkippedWithWarningNamingFile) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {1, 2});
  FlipByte(store.PathFor(2), kCheckpointHeaderSize + 3);  // a payload byte
  LogCapture log;
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->sequence, 1u);
  EXPECT_EQ(latest->payload, PayloadFor(1));
  const std::string text = log.text();
  EXPECT_NE(text.find(store.PathFor(2)), std::string::npos) << text;
  EXPECT_NE(text.find("checksum"), std::string::npos) << text;
}

TEST_F(CheckpointStoreTest, CorruptSizeFieldIsCaughtByTheHeaderChecksum) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {1, 2});
  FlipByte(store.PathFor(2), 16);  // low byte of the payload size
  LogCapture log;
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, 1u);
  EXPECT_NE(log.text().find("header: checksum mismatch"), std::string::npos) << log.text();
}

TEST_F(CheckpointStoreTest, TruncatedNewestIsSkipped) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {1, 2});
  std::filesystem::resize_file(store.PathFor(2), kCheckpointHeaderSize + 4);
  LogCapture log;
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, 1u);
  const std::string text = log.text();
  EXPECT_NE(text.find(store.PathFor(2)), std::string::npos) << text;
  EXPECT_NE(text.find("truncated"), std::string::npos) << text;
}

TEST_F(CheckpointStoreTest, EmptyNewestFileIsSkipped) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {1, 2});
  WriteAll(store.PathFor(2), "");
  LogCapture log;
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, 1u);
  EXPECT_NE(log.text().find(store.PathFor(2)), std::string::npos) << log.text();
}

TEST_F(CheckpointStoreTest, TrailingBytesAreRejected) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {1, 2});
  WriteAll(store.PathFor(2), ReadAll(store.PathFor(2)) + "x");
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, 1u);
}

TEST_F(CheckpointStoreTest, FileRenamedToAnotherSequenceIsRejected) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {1});
  std::filesystem::copy_file(store.PathFor(1), store.PathFor(5));
  LogCapture log;
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, 1u);
  EXPECT_NE(log.text().find("header says sequence 1"), std::string::npos) << log.text();
}

TEST_F(CheckpointStoreTest, NotFoundNamingDirectoryWhenNothingValidates) {
  CheckpointStore store = MakeStore();
  auto none = store.LoadLatest();
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsNotFound());
  EXPECT_NE(none.status().message().find(dir_.path()), std::string::npos);

  SaveAll(store, {1});
  WriteAll(store.PathFor(1), "garbage");
  auto bad = store.LoadLatest();
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
  EXPECT_NE(bad.status().message().find("1 invalid"), std::string::npos) << bad.status().ToString();
}

TEST_F(CheckpointStoreTest, AcceptCallbackRejectionFallsBackToOlder) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {1, 2, 3});
  auto latest = store.LoadLatest([](const StoredCheckpoint& c) {
    return c.sequence == 3 ? Status::Corruption("application says no") : Status::OK();
  });
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, 2u);
}

TEST_F(CheckpointStoreTest, StrayTempFileIsIgnoredAndRemovedOnCreate) {
  CheckpointStore store = MakeStore();
  SaveAll(store, {1});
  // A crash between write and rename leaves a complete-looking temporary file behind.
  const std::string stray = store.PathFor(9) + ".tmp.AbC123";
  WriteAll(stray, EncodeCheckpointFile(9, AsBytes(PayloadFor(9))));
  const std::string foreign = dir_ / "other-00000000000000000009.ckpt.tmp.AbC123";
  WriteAll(foreign, "another store's temporary file");
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, 1u);
  EXPECT_EQ(Sequences(store), std::vector<std::uint64_t>{1});

  CheckpointStore reopened = MakeStore();
  EXPECT_FALSE(std::filesystem::exists(stray));
  EXPECT_TRUE(std::filesystem::exists(foreign));
  EXPECT_TRUE(std::filesystem::exists(store.PathFor(1)));
}

TEST_F(CheckpointStoreTest, IgnoresOtherPrefixesAndNames) {
  CheckpointStore store = MakeStore(1, "stream");
  CheckpointStore blobs = MakeStore(1, "blob");
  SaveAll(store, {3});
  SaveAll(blobs, {4, 5});
  WriteAll(dir_ / "stream-3.ckpt", "short name");
  WriteAll(dir_ / "stream-0000000000000000000x.ckpt", "not digits");
  WriteAll(dir_ / "stream-99999999999999999999.ckpt", "beyond 64 bits");
  WriteAll(dir_ / "README", "notes");
  EXPECT_EQ(Sequences(store), std::vector<std::uint64_t>{3});
  EXPECT_EQ(Sequences(blobs), std::vector<std::uint64_t>{5});
  SaveAll(store, {6});  // pruning must not touch the other names
  EXPECT_TRUE(std::filesystem::exists(dir_ / "README"));
  EXPECT_TRUE(std::filesystem::exists(blobs.PathFor(5)));
}

TEST_F(CheckpointStoreTest, SameSequenceReplacesAndDecreasingIsRefused) {
  CheckpointStore store = MakeStore();
  ASSERT_TRUE(store.Save(5, AsBytes(std::string("first"))).ok());
  ASSERT_TRUE(store.Save(5, AsBytes(std::string("second"))).ok());
  auto latest = store.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->payload, "second");
  const Status s = store.Save(4, AsBytes(std::string("older")));
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(store.PathFor(4)));
}

TEST_F(CheckpointStoreTest, RejectsBadOptions) {
  CheckpointStoreOptions zero;
  zero.keep_last = 0;
  EXPECT_TRUE(CheckpointStore::Create(dir_.path(), zero).status().IsInvalidArgument());
  CheckpointStoreOptions slash;
  slash.prefix = "a/b";
  EXPECT_TRUE(CheckpointStore::Create(dir_.path(), slash).status().IsInvalidArgument());
  CheckpointStoreOptions empty;
  empty.prefix = "";
  EXPECT_TRUE(CheckpointStore::Create(dir_.path(), empty).status().IsInvalidArgument());
}

TEST_F(CheckpointStoreTest, CreateMakesMissingDirectories) {
  const std::string nested = dir_ / "a/b/c";
  auto store = CheckpointStore::Create(nested);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE(store->Save(1, AsBytes(std::string("x"))).ok());
  EXPECT_TRUE(std::filesystem::exists(store->PathFor(1)));
}

TEST_F(CheckpointStoreTest, UnusableDirectoryErrorsNameThePath) {
  // A regular file where a directory should be: refused even for root, unlike permissions.
  const std::string file = dir_ / "plain-file";
  WriteAll(file, "x");
  auto bad = CheckpointStore::Create(file + "/ckpt");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(file + "/ckpt"), std::string::npos)
      << bad.status().ToString();

  // The directory vanishes after Create: Save names the file it could not write.
  const std::string gone = dir_ / "gone";
  auto store = CheckpointStore::Create(gone);
  ASSERT_TRUE(store.ok());
  std::filesystem::remove_all(gone);
  const Status s = store->Save(3, AsBytes(std::string("x")));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(store->PathFor(3)), std::string::npos) << s.ToString();
  auto load = store->LoadLatest();
  ASSERT_FALSE(load.ok());
  EXPECT_NE(load.status().message().find(gone), std::string::npos) << load.status().ToString();
}

TEST_F(CheckpointStoreTest, ReadOnlyDirectoryErrorNamesTheFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  CheckpointStore store = MakeStore();
  std::filesystem::permissions(
      dir_.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  const Status s = store.Save(1, AsBytes(std::string("x")));
  std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find(store.PathFor(1)), std::string::npos) << s.ToString();
}

TEST_F(CheckpointStoreTest, MovedStoreKeepsWorking) {
  CheckpointStore a = MakeStore();
  SaveAll(a, {1});
  CheckpointStore b = std::move(a);
  SaveAll(b, {2});
  auto latest = b.LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->sequence, 2u);
}

}  // namespace
}  // namespace shardmesh::checkpoint
