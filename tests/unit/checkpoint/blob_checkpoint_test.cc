#include "shardmesh/checkpoint/blob_checkpoint.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint_test_util.h"
#include "shardmesh/checkpoint/checkpoint_file.h"

namespace shardmesh::checkpoint {
namespace {

using testing::ScratchDir;

std::string Blob(std::uint64_t step, std::size_t size = 1000) {
  std::string b(size, '\0');
  std::uint64_t x = step * 0x9e3779b97f4a7c15ULL + 1;
  for (auto& c : b) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return b;
}

class BlobCheckpointerTest : public ::testing::Test {
 protected:
  std::unique_ptr<BlobCheckpointer> Make(BlobCheckpointerOptions o = {}) {
    auto c = BlobCheckpointer::Create(dir_.path(), std::move(o));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  ScratchDir dir_;
};

TEST_F(BlobCheckpointerTest, SaveAsyncThenLoadLatestReturnsStepAndBytes) {
  auto ckpt = Make();
  ASSERT_TRUE(ckpt->SaveAsync(Blob(1), 1).get().ok());
  ASSERT_TRUE(ckpt->SaveAsync(Blob(2), 2).get().ok());
  auto latest = ckpt->LoadLatest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->first, 2u);
  EXPECT_EQ(latest->second, Blob(2));
}

TEST_F(BlobCheckpointerTest, MultiChunkBlobRoundTrips) {
  // Larger than the writer's hashing chunk, with a ragged tail.
  const std::string big = Blob(7, 3 * 1024 * 1024 + 17);
  auto ckpt = Make();
  ASSERT_TRUE(ckpt->SaveAsync(SharedBytes::FromString(big), 7).get().ok());
  auto latest = ckpt->LoadLatest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->second, big);
  auto decoded = DecodeCheckpointFile(AsBytes(testing::ReadAll(ckpt->store().PathFor(7))));
  EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
}

TEST_F(BlobCheckpointerTest, KeepsLastKBlobs) {
  BlobCheckpointerOptions o;
  o.keep_last = 2;
  auto ckpt = Make(o);
  for (std::uint64_t s = 1; s <= 5; ++s) (void)ckpt->SaveAsync(Blob(s), s);
  ASSERT_TRUE(ckpt->Flush().ok());
  auto files = ckpt->store().List();
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].sequence, 4u);
  EXPECT_EQ((*files)[1].sequence, 5u);
}

TEST_F(BlobCheckpointerTest, ConcurrentSubmittersAreWrittenInSubmissionOrder) {
  std::mutex order_mu;
  std::vector<std::uint64_t> written;
  BlobCheckpointerOptions o;
  o.max_pending = 3;
  o.keep_last = 3;
  o.on_saved = [&](std::uint64_t step, const SharedBytes& bytes) {
    EXPECT_EQ(bytes.chars(), Blob(step, 64));
    std::lock_guard<std::mutex> lock(order_mu);
    written.push_back(step);
  };
  auto ckpt = Make(o);
  // Steps are taken and submitted under one lock, so submission order is step order while
  // four threads contend for the bounded queue.
  std::mutex submit_mu;
  std::uint64_t next_step = 0;
  std::vector<std::future<Status>> futures[4];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::lock_guard<std::mutex> lock(submit_mu);
        const std::uint64_t step = next_step++;
        futures[t].push_back(ckpt->SaveAsync(Blob(step, 64), step));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& per_thread : futures) {
    for (auto& f : per_thread) EXPECT_TRUE(f.get().ok());
  }
  ASSERT_EQ(written.size(), 40u);
  for (std::uint64_t i = 0; i < 40; ++i) EXPECT_EQ(written[i], i);
  auto latest = ckpt->LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->first, 39u);
  EXPECT_EQ(latest->second, Blob(39, 64));
}

TEST_F(BlobCheckpointerTest, SaveAsyncBlocksWhenMaxPendingSavesAreOutstanding) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> first_in_hook;
  std::atomic<bool> hook_entered{false};
  BlobCheckpointerOptions o;
  o.max_pending = 2;
  o.on_saved = [&](std::uint64_t step, const SharedBytes&) {
    if (step == 1) {
      hook_entered = true;
      first_in_hook.set_value();
      released.wait();
    }
  };
  auto ckpt = Make(o);
  auto f1 = ckpt->SaveAsync(Blob(1), 1);
  first_in_hook.get_future().wait();      // save 1 is in progress (held in the hook)
  auto f2 = ckpt->SaveAsync(Blob(2), 2);  // queued: two outstanding now
  std::atomic<bool> third_returned{false};
  std::thread third([&] {
    auto f3 = ckpt->SaveAsync(Blob(3), 3);
    third_returned = true;
    EXPECT_TRUE(f3.get().ok());
  });
  // Saves 1 and 2 stay outstanding until the hook is released, so the third submitter must
  // still be waiting however long we look.
  EXPECT_EQ(f2.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  EXPECT_FALSE(third_returned.load());
  release.set_value();
  third.join();
  EXPECT_TRUE(third_returned.load());
  EXPECT_TRUE(f1.get().ok());
  EXPECT_TRUE(f2.get().ok());
  EXPECT_TRUE(ckpt->Flush().ok());
}

TEST_F(BlobCheckpointerTest, FlushReportsFirstFailureOnce) {
  auto ckpt = Make();
  (void)ckpt->SaveAsync(Blob(5), 5);
  auto older = ckpt->SaveAsync(Blob(4), 4);  // below a saved step: refused
  (void)ckpt->SaveAsync(Blob(6), 6);
  const Status flushed = ckpt->Flush();
  EXPECT_TRUE(flushed.IsInvalidArgument()) << flushed.ToString();
  EXPECT_TRUE(older.get().IsInvalidArgument());
  EXPECT_TRUE(ckpt->Flush().ok());
  auto latest = ckpt->LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->first, 6u);
}

TEST_F(BlobCheckpointerTest, DestructorFinishesSubmittedSaves) {
  {
    auto ckpt = Make();
    for (std::uint64_t s = 1; s <= 3; ++s) (void)ckpt->SaveAsync(Blob(s, 200000), s);
  }
  auto reopened = Make();
  auto latest = reopened->LoadLatest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->first, 3u);
  EXPECT_EQ(latest->second, Blob(3, 200000));
}

TEST_F(BlobCheckpointerTest, TruncatedNewestBlobFallsBackToPrevious) {
  auto ckpt = Make();
  ASSERT_TRUE(ckpt->SaveAsync(Blob(1), 1).get().ok());
  ASSERT_TRUE(ckpt->SaveAsync(Blob(2), 2).get().ok());
  std::filesystem::resize_file(ckpt->store().PathFor(2), 500);
  auto latest = ckpt->LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->first, 1u);
  EXPECT_EQ(latest->second, Blob(1));
}

TEST_F(BlobCheckpointerTest, FailedSaveNamesTheFileAndSkipsTheHook) {
  std::atomic<int> hooks{0};
  BlobCheckpointerOptions o;
  o.on_saved = [&](std::uint64_t, const SharedBytes&) { ++hooks; };
  auto ckpt = Make(o);
  std::filesystem::remove_all(dir_.path());
  const Status s = ckpt->SaveAsync(Blob(1), 1).get();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(ckpt->store().PathFor(1)), std::string::npos) << s.ToString();
  EXPECT_EQ(hooks.load(), 0);
}

TEST_F(BlobCheckpointerTest, ThrowingHookDoesNotFailTheDurableSave) {
  BlobCheckpointerOptions o;
  o.on_saved = [](std::uint64_t step, const SharedBytes&) {
    if (step == 1) throw std::runtime_error("replication queue full");
    throw 42;  // not even an exception type
  };
  auto ckpt = Make(o);
  EXPECT_TRUE(ckpt->SaveAsync(Blob(1), 1).get().ok());
  EXPECT_TRUE(ckpt->SaveAsync(Blob(2), 2).get().ok());
  auto latest = ckpt->LoadLatest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->first, 2u);
}

// Flush or SaveAsync from the hook would wait for the writer thread the hook runs on (a
// deadlock); both are refused instead, and the save itself completes.
TEST_F(BlobCheckpointerTest, FlushOrSaveFromTheHookIsRefusedNotADeadlock) {
  BlobCheckpointerOptions o;
  o.max_pending = 1;
  BlobCheckpointer* self = nullptr;
  Status flushed, saved;
  o.on_saved = [&](std::uint64_t, const SharedBytes&) {
    flushed = self->Flush();
    saved = self->SaveAsync(Blob(9), 9).get();
  };
  auto ckpt = Make(o);
  self = ckpt.get();
  auto done = ckpt->SaveAsync(Blob(1), 1);
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(done.get().ok());
  EXPECT_EQ(flushed.code(), StatusCode::kFailedPrecondition) << flushed.ToString();
  EXPECT_EQ(saved.code(), StatusCode::kFailedPrecondition) << saved.ToString();
  EXPECT_TRUE(ckpt->Flush().ok());
}

TEST_F(BlobCheckpointerTest, RejectsZeroMaxPending) {
  BlobCheckpointerOptions o;
  o.max_pending = 0;
  EXPECT_TRUE(BlobCheckpointer::Create(dir_.path(), o).status().IsInvalidArgument());
}

}  // namespace
}  // namespace shardmesh::checkpoint
