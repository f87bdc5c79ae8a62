#include "prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "shardmesh/common/random.h"

namespace shardmesh::testing {
namespace {

constexpr const char* kGood =
    "# A plain comment is ignored.\n"
    "# HELP requests_total Requests served, by \\\\ code.\\nSecond line.\n"
    "# TYPE requests_total counter\n"
    "requests_total{code=\"200\",path=\"/a \\\"b\\\"\\n\\\\\"} 1027 1395066363000\n"
    "requests_total{ code = \"500\" , } 3\n"
    "\n"
    "# TYPE temperature gauge\n"
    "temperature -1.5e3\n"
    "# TYPE special gauge\n"
    "special{v=\"nan\"} NaN\n"
    "special{v=\"inf\"} +Inf\n"
    "special{v=\"ninf\"}\t-Inf\n"
    "# HELP latency_seconds Latency.\n"
    "# TYPE latency_seconds histogram\n"
    "latency_seconds_bucket{op=\"get\",le=\"0.1\"} 1\n"
    "latency_seconds_bucket{op=\"get\",le=\"1\"} 4\n"
    "latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 5\n"
    "latency_seconds_sum{op=\"get\"} 7.25\n"
    "latency_seconds_count{op=\"get\"} 5\n"
    "latency_seconds_bucket{op=\"put\",le=\"0.1\"} 0\n"
    "latency_seconds_bucket{op=\"put\",le=\"1\"} 0\n"
    "latency_seconds_bucket{op=\"put\",le=\"+Inf\"} 0\n"
    "latency_seconds_sum{op=\"put\"} 0\n"
    "latency_seconds_count{op=\"put\"} 0\n"
    "# TYPE rpc_seconds summary\n"
    "rpc_seconds{quantile=\"0.5\"} 0.02\n"
    "rpc_seconds_sum 1.5\n"
    "rpc_seconds_count 40\n"
    "# TYPE empty_family gauge\n";

class PrometheusTextTest : public ::testing::Test {
 protected:
  // Expects `text` to be rejected with a message "line <line>: ..." containing `what`.
  static void ExpectRejected(const std::string& text, int line, const std::string& what) {
    auto parsed = ParsePrometheusText(text);
    ASSERT_FALSE(parsed.ok()) << "accepted:\n" << text;
    EXPECT_TRUE(parsed.status().IsInvalidArgument());
    const std::string message = parsed.status().message();
    EXPECT_EQ(message.rfind("line " + std::to_string(line) + ": ", 0), 0u) << message << "\nin:\n"
                                                                           << text;
    EXPECT_NE(message.find(what), std::string::npos) << message << "\nin:\n" << text;
  }
};

TEST_F(PrometheusTextTest, AcceptsAWellFormedExposition) {
  auto parsed = ParsePrometheusText(kGood);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const PromExposition& e = *parsed;
  ASSERT_EQ(e.families.size(), 6u);
  EXPECT_EQ(e.families[0].name, "requests_total");
  EXPECT_EQ(e.families[0].type, "counter");
  EXPECT_EQ(e.families[0].help, "Requests served, by \\ code.\nSecond line.");
  EXPECT_EQ(e.Value("requests_total", {{"path", "/a \"b\"\n\\"}, {"code", "200"}}), 1027.0);
  EXPECT_EQ(e.Value("requests_total", {{"code", "500"}}), 3.0);
  EXPECT_EQ(e.Value("temperature"), -1500.0);
  EXPECT_TRUE(std::isnan(*e.Value("special", {{"v", "nan"}})));
  EXPECT_EQ(e.Value("special", {{"v", "inf"}}), HUGE_VAL);
  EXPECT_EQ(e.Value("special", {{"v", "ninf"}}), -HUGE_VAL);
  EXPECT_EQ(e.Value("latency_seconds_bucket", {{"op", "get"}, {"le", "1"}}), 4.0);
  EXPECT_EQ(e.Find("latency_seconds")->samples.size(), 10u);
  EXPECT_EQ(e.Value("rpc_seconds_count"), 40.0);
  ASSERT_NE(e.Find("empty_family"), nullptr);
  EXPECT_TRUE(e.Find("empty_family")->samples.empty());
  EXPECT_EQ(e.Find("temperature")->samples[0].line, 8);
  EXPECT_EQ(e.Value("temperature", {{"x", "y"}}), std::nullopt);
}

TEST_F(PrometheusTextTest, AcceptsEmptyText) {
  auto parsed = ParsePrometheusText("");
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->families.empty());
}

TEST_F(PrometheusTextTest, RejectsTextWithoutFinalNewline) {
  ExpectRejected("# TYPE a gauge\na 1", 2, "newline");
}

TEST_F(PrometheusTextTest, RejectsBadMetricNames) {
  ExpectRejected("# TYPE a gauge\n1a 1\n", 2, "invalid metric name");
  ExpectRejected("# TYPE a-b gauge\n", 1, "invalid metric name");
  ExpectRejected("# HELP 9 help\n", 1, "invalid metric name");
  ExpectRejected("# TYPE a gauge\na-b 1\n", 2, "expected a blank");
  ExpectRejected("# TYPE a gauge\n{x=\"1\"} 1\n", 2, "invalid metric name");
}

TEST_F(PrometheusTextTest, RejectsSamplesWithoutType) {
  ExpectRejected("a 1\n", 1, "no # TYPE");
  ExpectRejected("# HELP a Help.\na 1\n", 2, "no # TYPE");
  ExpectRejected("# TYPE a gauge\na 1\nb 2\n", 3, "no # TYPE");
}

TEST_F(PrometheusTextTest, RejectsDuplicateOrLateTypeAndHelp) {
  ExpectRejected("# TYPE a gauge\n# TYPE a gauge\na 1\n", 2, "second # TYPE");
  ExpectRejected("# HELP a x\n# HELP a y\n", 2, "second # HELP");
  ExpectRejected("# TYPE a gauge\na 1\n# HELP a late\n", 3, "after its samples");
  ExpectRejected("# TYPE a gauge\na 1\n# TYPE a counter\n", 3, "after its samples");
  ExpectRejected("# TYPE a gauges\n", 1, "unknown type");
  ExpectRejected("# TYPE a gauge extra\n", 1, "text after the type");
  ExpectRejected("# TYPE a\n", 1, "unknown type");
}

TEST_F(PrometheusTextTest, RejectsFamiliesSplitByOthers) {
  ExpectRejected("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"2\"} 2\n", 5, "apart");
  ExpectRejected("# HELP a x\n# TYPE b gauge\n# TYPE a gauge\n", 3, "apart");
}

TEST_F(PrometheusTextTest, RejectsNonNumericValuesAndTimestamps) {
  for (const char* bad : {"one", "1.2.3", "0x10", "1e", "--1", "+-1", "1,5", "Infinit"}) {
    ExpectRejected(std::string("# TYPE a gauge\na ") + bad + "\n", 2, "not a float");
  }
  ExpectRejected("# TYPE a gauge\na\n", 2, "expected a blank and a value");
  ExpectRejected("# TYPE a gauge\na \n", 2, "not a float");
  ExpectRejected("# TYPE a gauge\na 1 12.5\n", 2, "timestamp");
  ExpectRejected("# TYPE a gauge\na 1 12 extra\n", 2, "unexpected text");
  ExpectRejected("# TYPE a gauge\na 1\r\n", 2, "not a float");
}

TEST_F(PrometheusTextTest, RejectsBadLabelSyntax) {
  const std::string head = "# TYPE a gauge\n";
  ExpectRejected(head + "a{b=1} 1\n", 2, "expected '\"'");
  ExpectRejected(head + "a{b=\"1\" c=\"2\"} 1\n", 2, "expected ',' or '}'");
  ExpectRejected(head + "a{b=\"1\"\n", 2, "unterminated");
  ExpectRejected(head + "a{b=\"1} 1\n", 2, "unterminated");
  ExpectRejected(head + "a{=\"1\"} 1\n", 2, "invalid label name");
  ExpectRejected(head + "a{1b=\"x\"} 1\n", 2, "invalid label name");
  ExpectRejected(head + "a{__name__=\"x\"} 1\n", 2, "invalid label name");
  ExpectRejected(head + "a{b:c=\"x\"} 1\n", 2, "expected '='");
  ExpectRejected(head + "a{b} 1\n", 2, "expected '='");
  ExpectRejected(head + "a{,} 1\n", 2, "invalid label name");
  ExpectRejected(head + "a{b=\"x\",b=\"y\"} 1\n", 2, "given twice");
  ExpectRejected(head + "a{b=\"x\"}1\n", 2, "expected a blank");
}

TEST_F(PrometheusTextTest, RejectsBadEscapes) {
  ExpectRejected("# TYPE a gauge\na{b=\"x\\q\"} 1\n", 2, "invalid escape");
  ExpectRejected("# TYPE a gauge\na{b=\"x\\\"} 1\n", 2, "unterminated");
  ExpectRejected("# HELP a bad \\t escape\n", 1, "invalid escape");
  ExpectRejected("# HELP a ends in \\\n", 1, "ends in");
}

TEST_F(PrometheusTextTest, RejectsDuplicateSeries) {
  ExpectRejected("# TYPE a gauge\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", 3, "twice");
  ExpectRejected("# TYPE a gauge\na 1\na 1\n", 3, "twice");
}

TEST_F(PrometheusTextTest, RejectsNegativeOrNaNCounters) {
  ExpectRejected("# TYPE a_total counter\na_total -1\n", 2, "negative");
  ExpectRejected("# TYPE a_total counter\na_total NaN\n", 2, "negative or NaN");
}

// A valid histogram with one line replaced or removed, to test each rule alone.
std::string Histogram(const std::vector<std::string>& lines) {
  std::string text = "# TYPE h histogram\n";
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

TEST_F(PrometheusTextTest, AcceptsTheBaseHistogramOfTheRejectionCases) {
  auto parsed = ParsePrometheusText(
      Histogram({"h_bucket{le=\"1\"} 1", "h_bucket{le=\"+Inf\"} 2", "h_sum 3", "h_count 2"}));
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
}

TEST_F(PrometheusTextTest, RejectsHistogramBucketsThatAreNotCumulative) {
  ExpectRejected(
      Histogram({"h_bucket{le=\"1\"} 3", "h_bucket{le=\"+Inf\"} 2", "h_sum 3", "h_count 2"}), 3,
      "not cumulative");
}

TEST_F(PrometheusTextTest, RejectsHistogramWithoutInfBucket) {
  ExpectRejected(
      Histogram({"h_bucket{le=\"1\"} 1", "h_bucket{le=\"2\"} 2", "h_sum 3", "h_count 2"}), 3,
      "+Inf");
}

TEST_F(PrometheusTextTest, RejectsHistogramCountThatDiffersFromInfBucket) {
  ExpectRejected(
      Histogram({"h_bucket{le=\"1\"} 1", "h_bucket{le=\"+Inf\"} 2", "h_sum 3", "h_count 3"}), 5,
      "_count differs");
}

TEST_F(PrometheusTextTest, RejectsOtherHistogramFaults) {
  ExpectRejected(Histogram({"h_bucket{le=\"2\"} 1", "h_bucket{le=\"1\"} 1",
                            "h_bucket{le=\"+Inf\"} 2", "h_sum 3", "h_count 2"}),
                 3, "does not increase");
  ExpectRejected(Histogram({"h_bucket 1"}), 2, "no le label");
  ExpectRejected(Histogram({"h_bucket{le=\"x\"} 1"}), 2, "not a float");
  ExpectRejected(Histogram({"h_bucket{le=\"+Inf\"} 2", "h_count 2"}), 2, "no _sum");
  ExpectRejected(Histogram({"h_bucket{le=\"+Inf\"} 2", "h_sum 2"}), 2, "no _count");
  ExpectRejected(Histogram({"h_sum 3", "h_count 2"}), 2, "no buckets");
  ExpectRejected(Histogram({"h_sum{le=\"1\"} 3"}), 2, "must not have an le");
  ExpectRejected(Histogram({"h 3"}), 2, "must be one of");
  // The fault is found when the family ends, whether at the end of the text or at the next one.
  ExpectRejected(
      Histogram({"h_bucket{le=\"1\"} 1", "h_sum 3", "h_count 1"}) + "# TYPE g gauge\ng 1\n", 2,
      "+Inf");
  ExpectRejected("# TYPE h histogram\n# TYPE h_count gauge\n", 2, "collides");
}

TEST_F(PrometheusTextTest, RejectsSummaryValueWithoutQuantile) {
  ExpectRejected("# TYPE s summary\ns 1\n", 2, "quantile");
}

// The parser reads test output only, but it must fail cleanly on anything: mutate good text
// byte by byte and feed it random bytes. A crash or sanitizer report fails the test.
TEST_F(PrometheusTextTest, NeverCrashesOnGarbage) {
  Rng rng(20261122);
  const std::string good = kGood;
  const std::string alphabet = "{}=\",\\\n #+-.eE0123456789abcdefghijklmnopqrstuvwxyz_:\t\x80\xff";
  int rejected = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = good;
    const int edits = 1 + static_cast<int>(rng.Uniform(4));
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const std::size_t at = rng.Uniform(text.size());
      switch (rng.Uniform(4)) {
        case 0:
          text[at] = alphabet[rng.Uniform(alphabet.size())];
          break;
        case 1:
          text.insert(at, 1, alphabet[rng.Uniform(alphabet.size())]);
          break;
        case 2:
          text.erase(at, 1 + rng.Uniform(8));
          break;
        default:
          text.resize(at);
          break;
      }
    }
    if (!ParsePrometheusText(text).ok()) ++rejected;
  }
  for (int round = 0; round < 2000; ++round) {
    std::string text(rng.Uniform(200), '\0');
    for (char& c : text) c = static_cast<char>(rng.Next());
    (void)ParsePrometheusText(text);
  }
  EXPECT_GT(rejected, 1000);  // the mutations do reach the checks
}

}  // namespace
}  // namespace shardmesh::testing
