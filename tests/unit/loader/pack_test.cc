// Importer (`shardmesh pack`): JSONL and CSV into datasets, malformed lines named by number.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "format_test_util.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/importer.h"

namespace shardmesh::loader {
namespace {

class PackTest : public ::testing::Test {
 protected:
  Result<Manifest> Import(const std::string& text, ImportFormat format,
                          std::optional<std::string> label = std::nullopt,
                          std::map<std::string, std::string> field_types = {}) {
    const std::string input = tmp_.Sub(format == ImportFormat::kCsv ? "in.csv" : "in.jsonl");
    testing::WriteAll(input, text);
    ImportOptions o;
    o.input = input;
    o.format = format;
    o.out_dir = tmp_.Sub("out" + std::to_string(++runs_));
    o.samples_per_shard = 2;
    o.label_field = std::move(label);
    o.field_types = std::move(field_types);
    out_ = o.out_dir;
    return ImportRecords(o);
  }
  testing::TempDir tmp_;
  std::string out_;
  int runs_ = 0;
};

TEST_F(PackTest, JsonlInfersSchemaAndRoundTrips) {
  auto m = Import(
      "{\"id\": 1, \"w\": 0.5, \"text\": \"hello\", \"emb\": [1, 2.5, -3], \"y\": 2}\n"
      "\n"
      "{\"id\": -7, \"w\": 3, \"text\": \"\", \"emb\": [0, 0, 1e3], \"y\": 0}\r\n"
      "{\"text\": \"order does not matter\", \"id\": 9, \"w\": -1.25, \"emb\": [4, 5, 6], \"y\": "
      "2}\n",
      ImportFormat::kJsonl, "y");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->num_samples, 3u);
  EXPECT_EQ(m->shards.size(), 2u);
  const auto& f = m->schema.fields();
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].name, "id");
  EXPECT_EQ(f[0].type, FieldType::kInt64);
  EXPECT_EQ(f[1].type, FieldType::kFloat64);
  EXPECT_EQ(f[2].type, FieldType::kString);
  EXPECT_EQ(f[3].type, FieldType::kTensor);
  EXPECT_EQ(f[3].shape, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(m->label_histogram, (std::map<std::int64_t, std::uint64_t>{{0, 1}, {2, 2}}));
  auto ds = Dataset::Open(out_);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  auto b1 = (*ds)->ReadBlock((*ds)->BlockOfSample(1));
  ASSERT_TRUE(b1.ok());
  const SampleView s = (*b1)->sample(1 - (*b1)->first_sample());
  EXPECT_EQ(s.field("id").AsInt64(), -7);
  EXPECT_EQ(s.field("w").AsFloat64(), 3.0);
  EXPECT_EQ(s.field("text").AsString(), "");
  EXPECT_EQ(s.field("emb").AsTensor().At<float>(2), 1000.0f);
}

TEST_F(PackTest, CsvWithHeaderAndQuotesRoundTrips) {
  auto m = Import("id,name,score\n1,plain,0.5\n2,\"with, comma and \"\"quotes\"\"\",2\n3,x,-1e-3\n",
                  ImportFormat::kCsv, "id");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->num_samples, 3u);
  ASSERT_EQ(m->schema.fields().size(), 3u);
  EXPECT_EQ(m->schema.fields()[2].type, FieldType::kFloat64);
  auto ds = Dataset::Open(out_);
  ASSERT_TRUE(ds.ok());
  auto block = (*ds)->ReadBlock(0);
  ASSERT_TRUE(block.ok());
  EXPECT_EQ((*block)->sample(1).field("name").AsString(), "with, comma and \"quotes\"");
  EXPECT_EQ((*block)->sample(1).field("score").AsFloat64(), 2.0);
}

TEST_F(PackTest, JsonlErrorsNameTheLineAndField) {
  const std::string first = "{\"a\": 1, \"b\": \"x\"}\n";
  struct Case {
    std::string text;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {first + first + "{\"a\": 1, \"b\": \"x\"\n", ":3: malformed JSON"},
      {first + "{\"a\": 2}\n", ":2: field 'b': missing"},
      {first + "\n{\"a\": \"one\", \"b\": \"x\"}\n", ":3: field 'a': expected an int64"},
      {first + "{\"a\": 1.5, \"b\": \"x\"}\n", ":2: field 'a'"},
      {first + "{\"a\": 1, \"b\": \"x\", \"c\": 3}\n", ":2: field 'c'"},
      {"{\"a\": null}\n", ":1: field 'a': unsupported value"},
      {"[1, 2]\n", ":1: record is not a JSON object"},
      // 100,000 levels overflowed the stack when the value was printed for the message.
      {first + "{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}\n",
       ":2: nested deeper than 64 levels"},
      {first + "{\"a\": 1e309, \"b\": \"x\"}\n", ":2: malformed JSON: number overflow"},
      // nlohmann keeps the last of two equal keys: the first value vanished without a word.
      {first + "{\"a\": 1, \"b\": \"x\", \"a\": 2}\n", ":2: field 'a': given twice"},
      {"{\"s\": 1, \"s\": \"x\"}\n", ":1: field 's': given twice"},
  };
  for (const Case& c : cases) {
    auto m = Import(c.text, ImportFormat::kJsonl);
    ASSERT_FALSE(m.ok()) << c.text;
    EXPECT_TRUE(m.status().IsInvalidArgument());
    EXPECT_NE(m.status().message().find("in.jsonl" + c.expect), std::string::npos)
        << m.status().message();
  }
}

TEST_F(PackTest, CsvErrorsNameTheLineAndField) {
  auto missing = Import("a,b,c\n1,2,3\n4,5\n", ImportFormat::kCsv);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("in.csv:3: field 'c': missing"), std::string::npos)
      << missing.status().message();
  auto mismatch = Import("a,b\n1,2\n3,x\n", ImportFormat::kCsv);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("in.csv:3: field 'b'"), std::string::npos)
      << mismatch.status().message();
  auto quote = Import("a,b\n1,\"open\n", ImportFormat::kCsv);
  ASSERT_FALSE(quote.ok());
  EXPECT_NE(quote.status().message().find("in.csv:2:"), std::string::npos);
  auto extra = Import("a\n1\n2,3\n", ImportFormat::kCsv);
  EXPECT_NE(extra.status().message().find("in.csv:3:"), std::string::npos);
}

// Integer arrays are not squeezed through float32 (16777217 would become 16777216); float
// arrays are float32, and a value float32 cannot hold is an error rather than an inf.
TEST_F(PackTest, IntegerArraysStayExactAndFloatArraysRefuseOverflow) {
  auto m =
      Import("{\"tok\": [16777217, 3]}\n{\"tok\": [-9007199254740993, 5]}\n", ImportFormat::kJsonl);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->schema.fields()[0].dtype, DType::kInt64);
  auto ds = Dataset::Open(out_);
  ASSERT_TRUE(ds.ok());
  auto block = (*ds)->ReadBlock(0);
  ASSERT_TRUE(block.ok());
  EXPECT_EQ((*block)->sample(0).field("tok").AsTensor().At<std::int64_t>(0), 16777217);
  EXPECT_EQ((*block)->sample(1).field("tok").AsTensor().At<std::int64_t>(0), -9007199254740993);

  auto mixed = Import("{\"tok\": [1, 2]}\n{\"tok\": [1.5, 2]}\n", ImportFormat::kJsonl);
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("in.jsonl:2: field 'tok': element 0 (1.5) is not an "
                                          "integer"),
            std::string::npos)
      << mixed.status().message();
  EXPECT_NE(mixed.status().message().find("give the field the type float32"), std::string::npos)
      << mixed.status().message();
  // An integer beyond int64 in an array of integers is a range error, not a float32 column.
  auto huge = Import("{\"x\": [18446744073709551615, 1]}\n", ImportFormat::kJsonl);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("in.jsonl:1: field 'x': element 0 "
                                         "(18446744073709551615) is out of int64's range"),
            std::string::npos)
      << huge.status().message();
  // A long value is cut short in the message.
  auto long_value =
      Import("{\"a\": 1}\n{\"a\": \"" + std::string(100000, 'z') + "\"}\n", ImportFormat::kJsonl);
  ASSERT_FALSE(long_value.ok());
  EXPECT_LT(long_value.status().message().size(), 300u);
  auto floats = Import("{\"x\": [0.5, 2]}\n{\"x\": [1e300, 2]}\n", ImportFormat::kJsonl);
  ASSERT_FALSE(floats.ok());
  EXPECT_NE(floats.status().message().find("in.jsonl:2: field 'x': element 0"), std::string::npos)
      << floats.status().message();
}

// A bad line after several finished shards leaves no shard files behind (without a manifest
// they are no dataset, and they would sit beside the next one packed there).
TEST_F(PackTest, AFailedImportRemovesTheShardsItWrote) {
  std::string text;
  for (int i = 0; i < 9; ++i) text += "{\"a\": " + std::to_string(i) + "}\n";
  text += "{\"a\": \"nine\"}\n";
  auto m = Import(text, ImportFormat::kJsonl);  // 2 samples per shard: 4 shards done by then
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("in.jsonl:10:"), std::string::npos) << m.status().message();
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(out_)) {
    left.push_back(entry.path().filename().string());
  }
  EXPECT_TRUE(left.empty()) << left.size() << " files left, e.g. " << left[0];
}

TEST_F(PackTest, CsvByteOrderMarkIsNotPartOfTheFirstColumnName) {
  auto m = Import(
      "\xEF\xBB\xBF"
      "a,b\n1,2\n",
      ImportFormat::kCsv);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->schema.fields()[0].name, "a");
  // Before a quoted first name too (as spreadsheets write it): the name is a, not "a".
  auto quoted = Import(
      "\xEF\xBB\xBF"
      "\"a\",b\n1,2\n",
      ImportFormat::kCsv);
  ASSERT_TRUE(quoted.ok()) << quoted.status().ToString();
  EXPECT_EQ(quoted->schema.fields()[0].name, "a");
}

// CSV numbers are decimal (strtoll/strtod read 0x1A as 26), spaces around them do not matter
// (a trailing one was an error, a leading one not), tiny values are not errors (1e-310), and
// a text column whose first value is NaN stays text.
TEST_F(PackTest, CsvNumbersAreDecimalAndTextStaysText) {
  auto m = Import("code,n,x,tiny,name\n0x1A, 3 ,+1.5,1e-310,NaN\n0x1B,4,-inf,1e-400,Bob\n",
                  ImportFormat::kCsv);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& f = m->schema.fields();
  EXPECT_EQ(f[0].type, FieldType::kString);   // code
  EXPECT_EQ(f[1].type, FieldType::kInt64);    // n
  EXPECT_EQ(f[2].type, FieldType::kFloat64);  // x
  EXPECT_EQ(f[3].type, FieldType::kFloat64);  // tiny
  EXPECT_EQ(f[4].type, FieldType::kString);   // name
  auto ds = Dataset::Open(out_);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  auto block = (*ds)->ReadBlock(0);  // both samples: one shard of two, one block
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  ASSERT_EQ((*block)->num_samples(), 2u);
  const SampleView s0 = (*block)->sample(0), s1 = (*block)->sample(1);
  EXPECT_EQ(s0.field("n").AsInt64(), 3);
  EXPECT_EQ(s0.field("x").AsFloat64(), 1.5);
  EXPECT_GT(s0.field("tiny").AsFloat64(), 0.0);
  EXPECT_EQ(s1.field("tiny").AsFloat64(), 0.0);
  EXPECT_TRUE(std::isinf(s1.field("x").AsFloat64()));
  EXPECT_EQ(s0.field("name").AsString(), "NaN");
  // A later hex value in an int64 column is an error naming it.
  auto hex = Import("n\n1\n0x10\n", ImportFormat::kCsv);
  ASSERT_FALSE(hex.ok());
  EXPECT_NE(hex.status().message().find("in.csv:3: field 'n': expected an int64"),
            std::string::npos)
      << hex.status().message();
}

TEST_F(PackTest, CsvTextThatIsNotUtf8AndCrOnlyLinesAreErrors) {
  auto bad = Import(
      "name\nok\nb\xff"
      "d\n",
      ImportFormat::kCsv);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("in.csv:3: field 'name': text that is not valid UTF-8"),
            std::string::npos)
      << bad.status().message();
  auto cr = Import("a,b\r1,2\r3,4\r", ImportFormat::kCsv);
  ASSERT_FALSE(cr.ok());
  EXPECT_NE(cr.status().message().find("lines ending in CR alone"), std::string::npos)
      << cr.status().message();
}

// field_types replaces what the first record would give: a float column whose first values
// are whole numbers, a narrower integer dtype (range-checked), a CSV code column kept as text.
TEST_F(PackTest, FieldTypesOverrideTheInference) {
  auto m = Import(
      "{\"emb\": [1, 2], \"w\": 1, \"ids\": [1, 2, 3]}\n"
      "{\"emb\": [0.5, -1.5], \"w\": 2.5, \"ids\": [4, 5, -300]}\n",
      ImportFormat::kJsonl, std::nullopt, {{"emb", "float32"}, {"w", "float64"}, {"ids", "int16"}});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& f = m->schema.fields();
  EXPECT_EQ(f[0].dtype, DType::kFloat32);
  EXPECT_EQ(f[1].type, FieldType::kFloat64);
  EXPECT_EQ(f[2].dtype, DType::kInt16);
  auto ds = Dataset::Open(out_);
  ASSERT_TRUE(ds.ok());
  auto block = (*ds)->ReadBlock(0);
  ASSERT_TRUE(block.ok());
  const SampleView s = (*block)->sample(1);
  EXPECT_EQ(s.field("emb").AsTensor().At<float>(1), -1.5f);
  EXPECT_EQ(s.field("w").AsFloat64(), 2.5);
  EXPECT_EQ(s.field("ids").AsTensor().data.size(), 3 * sizeof(std::int16_t));
  EXPECT_EQ(s.field("ids").AsTensor().At<std::int16_t>(2), -300);

  auto range = Import("{\"ids\": [1, 2]}\n{\"ids\": [256, 2]}\n", ImportFormat::kJsonl,
                      std::nullopt, {{"ids", "uint8"}});
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.status().message().find("in.jsonl:2: field 'ids': element 0 (256) is out of "
                                          "uint8's range"),
            std::string::npos)
      << range.status().message();

  auto csv = Import("zip,x\n01234,1\n99999,1.5\n", ImportFormat::kCsv, std::nullopt,
                    {{"zip", "string"}, {"x", "float64"}});
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  auto csv_ds = Dataset::Open(out_);
  ASSERT_TRUE(csv_ds.ok());
  auto csv_block = (*csv_ds)->ReadBlock(0);
  ASSERT_TRUE(csv_block.ok());
  EXPECT_EQ((*csv_block)->sample(0).field("zip").AsString(), "01234");
  EXPECT_EQ((*csv_block)->sample(1).field("x").AsFloat64(), 1.5);
  auto inferred = Import("zip,x\n01234,1\n99999,1.5\n", ImportFormat::kCsv);
  ASSERT_FALSE(inferred.ok());
  EXPECT_NE(inferred.status().message().find("in.csv:3: field 'x': expected an int64"),
            std::string::npos)
      << inferred.status().message();
  EXPECT_NE(inferred.status().message().find("type float64 or string"), std::string::npos);
}

TEST_F(PackTest, BadFieldTypesAreErrorsNamingTheField) {
  struct Case {
    std::map<std::string, std::string> types;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{{"a", "floaty"}}, "field 'a': unknown type 'floaty'"},
      {{{"nope", "int64"}}, "field 'nope': has a type override but is not in the first record"},
      {{{"v", "string"}}, "field 'v': type 'string' does not fit an array"},
      {{{"a", "float32"}}, "field 'a': type 'float32' is a tensor dtype"},
  };
  for (const Case& c : cases) {
    auto m = Import("{\"a\": 1, \"v\": [1, 2]}\n", ImportFormat::kJsonl, std::nullopt, c.types);
    ASSERT_FALSE(m.ok()) << c.expect;
    EXPECT_TRUE(m.status().IsInvalidArgument());
    EXPECT_NE(m.status().message().find(c.expect), std::string::npos) << m.status().message();
  }
}

TEST_F(PackTest, BadLabelFieldAndEmptyInputAreErrors) {
  EXPECT_FALSE(Import("{\"a\": 1.5}\n", ImportFormat::kJsonl, "a").ok());
  EXPECT_FALSE(Import("{\"a\": 1}\n", ImportFormat::kJsonl, "zzz").ok());
  EXPECT_FALSE(Import("", ImportFormat::kJsonl).ok());
  EXPECT_FALSE(Import("a,b\n", ImportFormat::kCsv).ok());
  ImportOptions o;
  o.input = tmp_.Sub("does-not-exist.jsonl");
  o.out_dir = tmp_.Sub("never");
  EXPECT_TRUE(ImportRecords(o).status().IsNotFound());
}

}  // namespace
}  // namespace shardmesh::loader
