// BlobChecksum must equal Hash64 for every input: providers publish Hash64, the exchange
// verifies with BlobChecksum, and a mismatch would make every fetch fail over.
#include "blob_checksum.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "shardmesh/common/hash.h"
#include "shardmesh/common/random.h"

namespace shardmesh::mesh {
namespace {

class BlobChecksumTest : public ::testing::Test {};

TEST_F(BlobChecksumTest, EqualsHash64AcrossShortLongAndOddSizes) {
  Rng rng(42);
  std::vector<std::uint8_t> data((1u << 20) + 77);
  for (std::uint8_t& b : data) b = static_cast<std::uint8_t>(rng.Next());
  // Around the short/long switch (240), the stripe (1024) and block sizes, and odd lengths.
  for (std::size_t size :
       {std::size_t{0}, std::size_t{1}, std::size_t{17}, std::size_t{239}, std::size_t{240},
        std::size_t{241}, std::size_t{1023}, std::size_t{1024}, std::size_t{4097},
        std::size_t{65536}, std::size_t{65536 + 13}, std::size_t{1} << 20, data.size()}) {
    const ByteView view(data.data(), size);
    EXPECT_EQ(BlobChecksum(view), Hash64(data.data(), size)) << "size " << size;
  }
}

TEST_F(BlobChecksumTest, UnalignedStartGivesTheSameValue) {
  std::vector<std::uint8_t> data(70000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 7);
  for (std::size_t offset : {1, 3, 7}) {
    const ByteView view(data.data() + offset, data.size() - offset);
    EXPECT_EQ(BlobChecksum(view), Hash64(view.data(), view.size())) << "offset " << offset;
  }
}

TEST_F(BlobChecksumTest, OneFlippedBitChangesIt) {
  std::vector<std::uint8_t> data(65536, 0x5a);
  const std::uint64_t before = BlobChecksum(ByteView(data));
  data[40000] ^= 0x10;
  EXPECT_NE(BlobChecksum(ByteView(data)), before);
}

}  // namespace
}  // namespace shardmesh::mesh
