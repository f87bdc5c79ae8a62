#include "shardmesh/common/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace shardmesh {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("shardmesh_file_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(CreateDirectories(dir_.string()).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(FileTest, AtomicWriteThenReadBack) {
  const std::string path = (dir_ / "a.bin").string();
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second version").ok());
  auto r = ReadFileToString(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "second version");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1) << "temporary file left behind";
}

TEST_F(FileTest, ReplaceableNeedsAnExistingDirectoryAndARegularFile) {
  EXPECT_TRUE(CheckReplaceable((dir_ / "new").string()).ok());
  EXPECT_TRUE(CheckReplaceable("relative-name-in-cwd").ok());  // no parent part
  const Status missing = CheckReplaceable((dir_ / "no" / "ck").string());
  EXPECT_TRUE(missing.IsNotFound()) << missing.ToString();
  EXPECT_NE(missing.message().find("directory " + (dir_ / "no").string() + " does not exist"),
            std::string::npos)
      << missing.message();
  ASSERT_TRUE(WriteFileAtomically((dir_ / "file").string(), "x").ok());
  const Status under_file = CheckReplaceable((dir_ / "file" / "ck").string());
  EXPECT_TRUE(under_file.IsInvalidArgument()) << under_file.ToString();
  EXPECT_NE(under_file.message().find("is not a directory"), std::string::npos);
  EXPECT_TRUE(CheckReplaceable(dir_.string()).IsInvalidArgument());  // a directory itself
}

TEST_F(FileTest, MissingFileIsNotFoundAndNamesPath) {
  auto r = ReadFileToString((dir_ / "missing").string());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound());
  EXPECT_NE(r.status().message().find("missing"), std::string::npos);
}

// A FIFO (or a directory) where a file should be is refused at once: opening a FIFO waited for
// a writer for ever (inspect hung on a FIFO put in place of the manifest).
TEST_F(FileTest, SomethingOtherThanARegularFileIsRefusedWithoutWaiting) {
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = ReadFileToString(fifo);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(fifo + ": not a regular file"), std::string::npos)
      << r.status().ToString();
  EXPECT_FALSE(RandomAccessFile::Open(dir_.string()).ok());
}

TEST_F(FileTest, ReadPastEndIsCorruptionNamingTruncation) {
  const std::string path = (dir_ / "short").string();
  ASSERT_TRUE(WriteFileAtomically(path, "abc").ok());
  auto f = RandomAccessFile::Open(path);
  ASSERT_TRUE(f.ok());
  std::uint8_t buf[8];
  Status s = f->ReadAt(0, buf);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("truncated"), std::string::npos);
  f->Close();
  f->Close();  // safe twice
}

}  // namespace
}  // namespace shardmesh
