// Schema validation, lookup and digest.
#include "shardmesh/loader/schema.h"

#include <gtest/gtest.h>

namespace shardmesh::loader {
namespace {

class SchemaTest : public ::testing::Test {
 protected:
  static std::vector<FieldSpec> Fields() {
    return {{"x", FieldType::kTensor, DType::kFloat32, {2, 3}},
            {"y", FieldType::kInt64, DType::kFloat32, {}},
            {"seq", FieldType::kTensor, DType::kInt32, {-1}}};
  }
};

TEST_F(SchemaTest, LooksUpFieldsAndLabel) {
  auto s = Schema::Create(Fields(), "y");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->FieldIndex("seq"), 2u);
  EXPECT_FALSE(s->FieldIndex("nope").has_value());
  EXPECT_EQ(s->label_index(), 1u);
  EXPECT_TRUE(s->IsFixedTensor(0));
  EXPECT_EQ(s->FixedTensorBytes(0), 24u);
  EXPECT_FALSE(s->IsFixedTensor(2));
  EXPECT_FALSE(s->IsFixedTensor(1));
}

TEST_F(SchemaTest, RejectsInvalidDefinitionsNamingTheField) {
  auto dup = Fields();
  dup[2].name = "x";
  auto r = Schema::Create(dup, std::nullopt);
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("'x'"), std::string::npos);
  auto zero_dim = Fields();
  zero_dim[0].shape = {0};
  EXPECT_FALSE(Schema::Create(zero_dim, std::nullopt).ok());
  auto bad_dim = Fields();
  bad_dim[0].shape = {-2};
  EXPECT_FALSE(Schema::Create(bad_dim, std::nullopt).ok());
  auto shaped_int = Fields();
  shaped_int[1].shape = {3};
  EXPECT_FALSE(Schema::Create(shaped_int, std::nullopt).ok());
  EXPECT_FALSE(Schema::Create({}, std::nullopt).ok());
  EXPECT_FALSE(Schema::Create(Fields(), "x").ok());        // label must be int64
  EXPECT_FALSE(Schema::Create(Fields(), "missing").ok());  // label must exist
  // Names go into JSON: not UTF-8 is an error, and the message escapes the bad bytes.
  auto latin1 = Fields();
  latin1[0].name = "caf\xE9";
  auto bad_name = Schema::Create(latin1, std::nullopt);
  ASSERT_TRUE(bad_name.status().IsInvalidArgument());
  EXPECT_NE(bad_name.status().message().find("'caf\\xE9': name is not valid UTF-8"),
            std::string::npos)
      << bad_name.status().message();
  latin1[0].name = "caf\xC3\xA9";  // the same in UTF-8
  EXPECT_TRUE(Schema::Create(latin1, std::nullopt).ok());
}

TEST_F(SchemaTest, DigestChangesWithAnyDifference) {
  const auto base = Schema::Create(Fields(), "y")->Digest();
  EXPECT_EQ(Schema::Create(Fields(), "y")->Digest(), base);
  EXPECT_NE(Schema::Create(Fields(), std::nullopt)->Digest(), base);
  auto f = Fields();
  f[0].dtype = DType::kFloat16;
  EXPECT_NE(Schema::Create(f, "y")->Digest(), base);
  f = Fields();
  f[0].shape = {3, 2};
  EXPECT_NE(Schema::Create(f, "y")->Digest(), base);
  f = Fields();
  f[1].name = "z";
  EXPECT_NE(Schema::Create(f, "z")->Digest(), base);
}

TEST_F(SchemaTest, TypeNamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(DType::kBool); ++i) {
    const auto d = static_cast<DType>(i);
    EXPECT_EQ(ParseDType(DTypeName(d)), d);
  }
  for (int i = 0; i <= static_cast<int>(FieldType::kTensor); ++i) {
    const auto t = static_cast<FieldType>(i);
    EXPECT_EQ(ParseFieldType(FieldTypeName(t)), t);
  }
  EXPECT_FALSE(ParseDType("complex64").has_value());
  EXPECT_EQ(DTypeSize(DType::kFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
}

}  // namespace
}  // namespace shardmesh::loader
