// Manifest JSON: round trip, and rejection of foreign formats, unknown versions and
// inconsistent shard lists.
#include "shardmesh/loader/manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "format_test_util.h"

namespace shardmesh::loader {
namespace {

class ManifestTest : public ::testing::Test {
 protected:
  Manifest Sample() {
    Manifest m;
    m.schema = testing::AllTypesSchema();
    m.num_samples = 30;
    for (int i = 0; i < 3; ++i) {
      ShardEntry e;
      e.file = "shard-0000" + std::to_string(i) + ".smd";
      e.num_samples = 10;
      e.first_sample = 10u * static_cast<unsigned>(i);
      e.num_blocks = 2;
      e.bytes = 1000 + static_cast<unsigned>(i);
      e.footer_checksum = 0xfedcba9876543210ULL + static_cast<unsigned>(i);
      e.file_checksum = 0x0123456789abcdefULL * static_cast<unsigned>(i + 1);
      m.shards.push_back(e);
    }
    m.label_histogram = {{-2, 5}, {0, 20}, {7, 5}};
    return m;
  }
  static nlohmann::json Json(const Manifest& m) { return nlohmann::json::parse(m.Serialize()); }
  static Result<Manifest> Reparse(const nlohmann::json& j) {
    return Manifest::Parse(j.dump(), "m.json");
  }
};

TEST_F(ManifestTest, RoundTripPreservesEverything) {
  const Manifest m = Sample();
  auto back = Manifest::Parse(m.Serialize(), "m.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->schema.Digest(), m.schema.Digest());
  EXPECT_EQ(back->schema.label_field(), "label");
  EXPECT_EQ(back->schema.fields()[5].shape, (std::vector<std::int64_t>{-1, 3}));
  EXPECT_EQ(back->num_samples, 30u);
  ASSERT_EQ(back->shards.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->shards[i].file, m.shards[i].file);
    EXPECT_EQ(back->shards[i].first_sample, m.shards[i].first_sample);
    EXPECT_EQ(back->shards[i].bytes, m.shards[i].bytes);
    EXPECT_EQ(back->shards[i].footer_checksum, m.shards[i].footer_checksum);
    EXPECT_EQ(back->shards[i].file_checksum, m.shards[i].file_checksum);
  }
  EXPECT_EQ(back->label_histogram, m.label_histogram);
}

TEST_F(ManifestTest, DocumentHasTheDocumentedKeys) {
  const nlohmann::json j = Json(Sample());
  EXPECT_EQ(j["format"], "shardmesh-dataset");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["schema"]["fields"][4]["dtype"], "float32");
  EXPECT_EQ(j["shards"][0]["footer_checksum"], "fedcba9876543210");
  EXPECT_EQ(j["label_histogram"]["-2"], 5);
}

TEST_F(ManifestTest, UnknownVersionIsRejectedClearly) {
  nlohmann::json j = Json(Sample());
  j["version"] = 2;
  auto r = Reparse(j);
  ASSERT_FALSE(r.ok());
  // Corruption like a shard's unknown version: data this reader cannot take, not a usage error
  // (the CLI exits 1 for it, 2 for usage errors).
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("unsupported manifest version 2"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(r.status().message().rfind("m.json", 0), 0u);
}

TEST_F(ManifestTest, ForeignFormatIsRejected) {
  nlohmann::json j = Json(Sample());
  j["format"] = "webdataset";
  EXPECT_TRUE(Reparse(j).status().IsCorruption());
  j.erase("format");
  EXPECT_TRUE(Reparse(j).status().IsCorruption());
}

TEST_F(ManifestTest, InconsistentShardListsAreCorruption) {
  nlohmann::json j = Json(Sample());
  j["num_samples"] = 31;
  EXPECT_TRUE(Reparse(j).status().IsCorruption());
  j = Json(Sample());
  j["shards"][2]["first_sample"] = 21;
  EXPECT_TRUE(Reparse(j).status().IsCorruption());
  j = Json(Sample());
  j["shards"][1]["file"] = "../escape.smd";
  EXPECT_TRUE(Reparse(j).status().IsCorruption());
  j = Json(Sample());
  j["shards"][2]["file"] = j["shards"][1]["file"];  // one file listed twice
  auto twice = Reparse(j);
  ASSERT_TRUE(twice.status().IsCorruption());
  EXPECT_NE(twice.status().message().find("shard-00001.smd is listed twice"), std::string::npos)
      << twice.status().message();
  j = Json(Sample());
  j["shards"][1]["file_checksum"] = "not-hex";
  EXPECT_TRUE(Reparse(j).status().IsCorruption());
  j = Json(Sample());
  j["shards"][0].erase("bytes");
  auto r = Reparse(j);
  ASSERT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("\"bytes\""), std::string::npos) << r.status().message();
}

TEST_F(ManifestTest, MalformedJsonAndBadSchemasAreCorruption) {
  EXPECT_TRUE(Manifest::Parse("{\"format\": ", "m.json").status().IsCorruption());
  EXPECT_TRUE(Manifest::Parse("[]", "m.json").status().IsCorruption());
  nlohmann::json j = Json(Sample());
  j["schema"]["fields"][0]["type"] = "complex128";
  EXPECT_TRUE(Reparse(j).status().IsCorruption());
  j = Json(Sample());
  j["schema"]["label_field"] = "name";  // a string field cannot be the label
  EXPECT_TRUE(Reparse(j).status().IsCorruption());
}

TEST_F(ManifestTest, StoreThenLoad) {
  testing::TempDir tmp;
  ASSERT_TRUE(Sample().Store(tmp.path()).ok());
  auto back = Manifest::Load(tmp.path());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->num_samples, 30u);
}

}  // namespace
}  // namespace shardmesh::loader
