#include "shardmesh/common/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "prometheus_text.h"

namespace shardmesh {
namespace {

using testing::ParsePrometheusText;
using testing::PromExposition;

int CountOccurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (std::size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

class MetricsRegistryTest : public ::testing::Test {
 protected:
  // Renders the registry and parses it with the strict parser; fails the test if it does not
  // parse.
  PromExposition Scrape() {
    const std::string text = registry_.RenderText();
    auto parsed = ParsePrometheusText(text);
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
    return parsed.ok() ? *parsed : PromExposition{};
  }

  MetricsRegistry registry_;
};

TEST_F(MetricsRegistryTest, EmptyRegistryRendersNothing) { EXPECT_EQ(registry_.RenderText(), ""); }

TEST_F(MetricsRegistryTest, CounterRendersHelpTypeAndValue) {
  auto counter = registry_.AddCounter("requests_total", "Requests served.");
  ASSERT_TRUE(counter.ok()) << counter.status().ToString();
  (*counter)->Inc();
  (*counter)->Inc(41);
  EXPECT_EQ(registry_.RenderText(),
            "# HELP requests_total Requests served.\n"
            "# TYPE requests_total counter\n"
            "requests_total 42\n");
  const PromExposition scraped = Scrape();
  ASSERT_NE(scraped.Find("requests_total"), nullptr);
  EXPECT_EQ(scraped.Find("requests_total")->type, "counter");
  EXPECT_EQ(scraped.Value("requests_total"), 42.0);
}

TEST_F(MetricsRegistryTest, CounterKeepsFullUint64Precision) {
  auto counter = registry_.AddCounter("bytes_total", "Bytes.");
  ASSERT_TRUE(counter.ok());
  (*counter)->Inc((std::uint64_t{1} << 53) + 1);
  EXPECT_NE(registry_.RenderText().find("bytes_total 9007199254740993\n"), std::string::npos);
}

TEST_F(MetricsRegistryTest, SeriesOfOneFamilyShareOneHelpAndTypeBlock) {
  auto a = registry_.AddCounter("fetches_total", "Fetches.", {{"peer", "a"}});
  auto other = registry_.AddGauge("queue_depth", "Depth.");
  auto b = registry_.AddCounter("fetches_total", "Fetches.", {{"peer", "b"}});
  ASSERT_TRUE(a.ok() && b.ok() && other.ok());
  (*a)->Inc(1);
  (*b)->Inc(2);
  const std::string text = registry_.RenderText();
  EXPECT_EQ(CountOccurrences(text, "# TYPE fetches_total"), 1);
  EXPECT_EQ(CountOccurrences(text, "# HELP fetches_total"), 1);
  const PromExposition scraped = Scrape();  // the parser rejects non-contiguous families
  EXPECT_EQ(scraped.Value("fetches_total", {{"peer", "a"}}), 1.0);
  EXPECT_EQ(scraped.Value("fetches_total", {{"peer", "b"}}), 2.0);
  EXPECT_EQ(scraped.Find("fetches_total")->samples.size(), 2u);
}

TEST_F(MetricsRegistryTest, SeveralLabelsRenderInRegistrationOrder) {
  auto g = registry_.AddGauge("members", "Members.", {{"state", "alive"}, {"zone", "z1"}});
  ASSERT_TRUE(g.ok());
  (*g)->Set(3);
  EXPECT_NE(registry_.RenderText().find("members{state=\"alive\",zone=\"z1\"} 3\n"),
            std::string::npos);
}

TEST_F(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  const std::string nasty = "a\\b\"c\nd";
  auto g = registry_.AddGauge("escaped", "Help with \\ and\nnewline \"quotes\".", {{"v", nasty}});
  ASSERT_TRUE(g.ok());
  const std::string text = registry_.RenderText();
  EXPECT_NE(text.find(R"(escaped{v="a\\b\"c\nd"} 0)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(# HELP escaped Help with \\ and\nnewline "quotes".)"), std::string::npos)
      << text;
  const PromExposition scraped = Scrape();
  EXPECT_EQ(scraped.Value("escaped", {{"v", nasty}}), 0.0);
  EXPECT_EQ(scraped.Find("escaped")->help, "Help with \\ and\nnewline \"quotes\".");
}

TEST_F(MetricsRegistryTest, GaugeSetsAddsAndRendersSpecialValues) {
  auto g = registry_.AddGauge("level", "Level.", {{"k", "x"}});
  auto nan = registry_.AddGauge("level", "Level.", {{"k", "nan"}});
  auto inf = registry_.AddGauge("level", "Level.", {{"k", "inf"}});
  auto ninf = registry_.AddGauge("level", "Level.", {{"k", "ninf"}});
  ASSERT_TRUE(g.ok() && nan.ok() && inf.ok() && ninf.ok());
  (*g)->Set(-2.5);
  (*g)->Add(1.0);
  (*g)->Inc();
  (*g)->Dec();
  EXPECT_DOUBLE_EQ((*g)->Value(), -1.5);
  (*nan)->Set(std::numeric_limits<double>::quiet_NaN());
  (*inf)->Set(std::numeric_limits<double>::infinity());
  (*ninf)->Set(-std::numeric_limits<double>::infinity());
  const std::string text = registry_.RenderText();
  EXPECT_NE(text.find("level{k=\"x\"} -1.5\n"), std::string::npos);
  EXPECT_NE(text.find("level{k=\"nan\"} NaN\n"), std::string::npos);
  EXPECT_NE(text.find("level{k=\"inf\"} +Inf\n"), std::string::npos);
  EXPECT_NE(text.find("level{k=\"ninf\"} -Inf\n"), std::string::npos);
  const PromExposition scraped = Scrape();
  EXPECT_TRUE(std::isnan(*scraped.Value("level", {{"k", "nan"}})));
}

TEST_F(MetricsRegistryTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  auto h = registry_.AddHistogram("latency_seconds", "Latency.", {1, 2, 5}, {{"op", "get"}});
  ASSERT_TRUE(h.ok());
  for (double v : {0.5, 1.0, 1.5, 3.0, 10.0}) (*h)->Observe(v);
  const PromExposition scraped = Scrape();
  const auto bucket = [&](const std::string& le) {
    return scraped.Value("latency_seconds_bucket", {{"op", "get"}, {"le", le}});
  };
  EXPECT_EQ(bucket("1"), 2.0);  // 1.0 falls in le="1": buckets are "less or equal"
  EXPECT_EQ(bucket("2"), 3.0);
  EXPECT_EQ(bucket("5"), 4.0);
  EXPECT_EQ(bucket("+Inf"), 5.0);
  EXPECT_EQ(scraped.Value("latency_seconds_sum", {{"op", "get"}}), 16.0);
  EXPECT_EQ(scraped.Value("latency_seconds_count", {{"op", "get"}}), 5.0);
  EXPECT_EQ(scraped.Find("latency_seconds")->type, "histogram");
}

// le values are matched as strings by queries, so they must read as Go clients write them
// (strconv.FormatFloat(v, 'g', -1, 64)).
TEST_F(MetricsRegistryTest, BucketBoundsRenderLikeGoClients) {
  auto h = registry_.AddHistogram("b", "B.", {-2, 1e-5, 0.0001, 0.25, 1, 123456, 1e6, 2.5e9});
  ASSERT_TRUE(h.ok());
  const std::string text = registry_.RenderText();
  for (const char* le : {"-2", "1e-05", "0.0001", "0.25", "1", "123456", "1e+06", "2.5e+09"}) {
    EXPECT_NE(text.find("b_bucket{le=\"" + std::string(le) + "\"} 0\n"), std::string::npos)
        << le << "\n"
        << text;
  }
}

TEST_F(MetricsRegistryTest, HistogramWithoutBoundsHasOnlyInfBucket) {
  auto h = registry_.AddHistogram("sizes", "Sizes.", {});
  ASSERT_TRUE(h.ok());
  (*h)->Observe(7);
  const PromExposition scraped = Scrape();
  EXPECT_EQ(scraped.Value("sizes_bucket", {{"le", "+Inf"}}), 1.0);
  EXPECT_EQ(scraped.Value("sizes_count"), 1.0);
}

TEST_F(MetricsRegistryTest, RejectsBadHistogramBounds) {
  EXPECT_TRUE(registry_.AddHistogram("h1", "h", {1, 1}).status().IsInvalidArgument());
  EXPECT_TRUE(registry_.AddHistogram("h2", "h", {2, 1}).status().IsInvalidArgument());
  EXPECT_TRUE(registry_.AddHistogram("h3", "h", {1, std::numeric_limits<double>::infinity()})
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(registry_.AddHistogram("h4", "h", {std::numeric_limits<double>::quiet_NaN()})
                  .status()
                  .IsInvalidArgument());
  EXPECT_EQ(registry_.RenderText(), "");
}

TEST_F(MetricsRegistryTest, RejectsInvalidMetricNames) {
  for (const char* bad : {"", "1abc", "a-b", "a b", "a.b", "caf\xc3\xa9", "a{b}"}) {
    auto g = registry_.AddGauge(bad, "x");
    EXPECT_TRUE(g.status().IsInvalidArgument()) << "'" << bad << "'";
  }
  for (const char* good : {"a", "_a", ":a", "a:b_c9", "A"}) {
    EXPECT_TRUE(registry_.AddGauge(good, "x").ok()) << good;
  }
}

TEST_F(MetricsRegistryTest, RejectsInvalidLabelNames) {
  for (const char* bad : {"", "1a", "a:b", "a-b", "__reserved", "le"}) {
    auto g = registry_.AddGauge("g", "x", {{bad, "v"}});
    EXPECT_TRUE(g.status().IsInvalidArgument()) << "'" << bad << "'";
    EXPECT_NE(g.status().message().find("g"), std::string::npos);
  }
  EXPECT_TRUE(registry_.AddGauge("g", "x", {{"a", "1"}, {"a", "2"}}).status().IsInvalidArgument());
  EXPECT_TRUE(registry_.AddGauge("g", "x", {{"_ok", "1"}, {"Ok9", ""}}).ok());
}

TEST_F(MetricsRegistryTest, RejectsCounterNameWithoutTotalSuffix) {
  auto c = registry_.AddCounter("requests", "x");
  EXPECT_TRUE(c.status().IsInvalidArgument());
  EXPECT_NE(c.status().message().find("_total"), std::string::npos);
  EXPECT_TRUE(
      registry_.AddCounterCallback("requests", "x", {}, [] { return 1.0; }).IsInvalidArgument());
}

TEST_F(MetricsRegistryTest, RejectsTheSameSeriesTwiceWhateverTheLabelOrder) {
  ASSERT_TRUE(registry_.AddGauge("g", "x", {{"a", "1"}, {"b", "2"}}).ok());
  EXPECT_EQ(registry_.AddGauge("g", "x", {{"b", "2"}, {"a", "1"}}).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(
      registry_.AddGaugeCallback("g", "x", {{"a", "1"}, {"b", "2"}}, [] { return 0.0; }).code(),
      StatusCode::kAlreadyExists);
  EXPECT_TRUE(registry_.AddGauge("g", "x", {{"a", "1"}, {"b", "3"}}).ok());
}

TEST_F(MetricsRegistryTest, RejectsAFamilyRegisteredAgainWithAnotherTypeOrHelp) {
  ASSERT_TRUE(registry_.AddGauge("thing", "Thing.", {{"k", "1"}}).ok());
  EXPECT_TRUE(
      registry_.AddHistogram("thing", "Thing.", {1}, {{"k", "2"}}).status().IsInvalidArgument());
  EXPECT_TRUE(
      registry_.AddGauge("thing", "Other help.", {{"k", "2"}}).status().IsInvalidArgument());
}

TEST_F(MetricsRegistryTest, RejectsNamesThatCollideWithHistogramSamples) {
  ASSERT_TRUE(registry_.AddHistogram("lat", "Latency.", {1}).ok());
  EXPECT_EQ(registry_.AddGauge("lat_count", "x").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(registry_.AddGauge("lat_bucket", "x").status().code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(registry_.AddGauge("size_sum", "x").ok());
  EXPECT_EQ(registry_.AddHistogram("size", "x", {1}).status().code(), StatusCode::kAlreadyExists);
  Scrape();
}

TEST_F(MetricsRegistryTest, RejectsEmptyCallbacks) {
  EXPECT_TRUE(registry_.AddGaugeCallback("g", "x", {}, nullptr).IsInvalidArgument());
  EXPECT_TRUE(registry_.AddCounterCallback("c_total", "x", {}, nullptr).IsInvalidArgument());
  EXPECT_TRUE(registry_.AddHistogramCallback("h", "x", {1}, {}, nullptr).IsInvalidArgument());
  EXPECT_TRUE(registry_.AddScrapeHook(nullptr).IsInvalidArgument());
}

TEST_F(MetricsRegistryTest, CallbacksAreReadAtScrapeTime) {
  double level = 1.5;
  std::uint64_t served = 10;
  ASSERT_TRUE(registry_.AddGaugeCallback("level", "Level.", {}, [&] { return level; }).ok());
  ASSERT_TRUE(registry_
                  .AddCounterCallback("served_total", "Served.", {{"side", "server"}},
                                      [&] { return static_cast<double>(served); })
                  .ok());
  PromExposition first = Scrape();
  EXPECT_EQ(first.Value("level"), 1.5);
  EXPECT_EQ(first.Value("served_total", {{"side", "server"}}), 10.0);
  level = -3;
  served = 12;
  PromExposition second = Scrape();
  EXPECT_EQ(second.Value("level"), -3.0);
  EXPECT_EQ(second.Value("served_total", {{"side", "server"}}), 12.0);
}

TEST_F(MetricsRegistryTest, HistogramCallbackTurnsPerBucketCountsCumulative) {
  // Laid out like ExchangeStats::latency_buckets: per bucket, plus one overflow bucket.
  HistogramSnapshot snapshot;
  snapshot.counts = {1, 0, 2, 4};
  snapshot.sum = 0.75;
  ASSERT_TRUE(registry_
                  .AddHistogramCallback("fetch_seconds", "Fetch latency.", {0.0001, 0.001, 0.01},
                                        {{"node", "n1"}}, [&] { return snapshot; })
                  .ok());
  const PromExposition scraped = Scrape();
  const auto bucket = [&](const std::string& le) {
    return scraped.Value("fetch_seconds_bucket", {{"node", "n1"}, {"le", le}});
  };
  EXPECT_EQ(bucket("0.0001"), 1.0);
  EXPECT_EQ(bucket("0.001"), 1.0);
  EXPECT_EQ(bucket("0.01"), 3.0);
  EXPECT_EQ(bucket("+Inf"), 7.0);
  EXPECT_EQ(scraped.Value("fetch_seconds_count", {{"node", "n1"}}), 7.0);
  EXPECT_EQ(scraped.Value("fetch_seconds_sum", {{"node", "n1"}}), 0.75);
}

TEST_F(MetricsRegistryTest, HistogramCallbackWithWrongBucketCountRendersNoSamples) {
  ASSERT_TRUE(registry_
                  .AddHistogramCallback("broken", "Broken.", {1, 2}, {},
                                        [] {
                                          return HistogramSnapshot{{1, 2}, 3.0};
                                        })
                  .ok());
  const std::string text = registry_.RenderText();
  EXPECT_NE(text.find("# shardmesh: histogram broken snapshot has 2 buckets, expected 3"),
            std::string::npos)
      << text;
  const PromExposition scraped = Scrape();
  ASSERT_NE(scraped.Find("broken"), nullptr);
  EXPECT_TRUE(scraped.Find("broken")->samples.empty());
}

TEST_F(MetricsRegistryTest, ScrapeHooksRunOnceBeforeEveryCallback) {
  int hook_runs = 0;
  int snapshot = 0;  // what the hook "took"
  std::vector<int> seen;
  ASSERT_TRUE(registry_
                  .AddGaugeCallback("a", "A.", {},
                                    [&] {
                                      seen.push_back(snapshot);
                                      return 1.0;
                                    })
                  .ok());
  ASSERT_TRUE(registry_.AddScrapeHook([&] { snapshot = ++hook_runs; }).ok());
  ASSERT_TRUE(registry_
                  .AddGaugeCallback("b", "B.", {},
                                    [&] {
                                      seen.push_back(snapshot);
                                      return 2.0;
                                    })
                  .ok());
  (void)registry_.RenderText();
  (void)registry_.RenderText();
  EXPECT_EQ(hook_runs, 2);
  EXPECT_EQ(seen, (std::vector<int>{1, 1, 2, 2}));
}

TEST_F(MetricsRegistryTest, ConcurrentUpdatesLoseNothingWhileScraping) {
  auto counter = registry_.AddCounter("ops_total", "Ops.");
  auto gauge = registry_.AddGauge("inflight", "In flight.");
  auto histogram = registry_.AddHistogram("op_seconds", "Op time.", {0.5, 1.5});
  ASSERT_TRUE(counter.ok() && gauge.ok() && histogram.ok());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50000;
  std::atomic<bool> done{false};
  std::atomic<int> bad_scrapes{0};
  std::thread scraper([&] {
    while (!done.load()) {
      if (!ParsePrometheusText(registry_.RenderText()).ok()) bad_scrapes.fetch_add(1);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        (*counter)->Inc();
        (*gauge)->Add(1.0);
        (*histogram)->Observe(t % 2 == 0 ? 1.0 : 2.0);
      }
      // Registration races with updates and scrapes too.
      ASSERT_TRUE(registry_.AddGauge("per_thread", "Per thread.", {{"t", std::to_string(t)}}).ok());
    });
  }
  for (auto& w : workers) w.join();
  done.store(true);
  scraper.join();
  EXPECT_EQ(bad_scrapes.load(), 0);
  const PromExposition scraped = Scrape();
  constexpr double kTotal = kThreads * kPerThread;
  EXPECT_EQ(scraped.Value("ops_total"), kTotal);
  EXPECT_EQ(scraped.Value("inflight"), kTotal);
  EXPECT_EQ(scraped.Value("op_seconds_count"), kTotal);
  EXPECT_EQ(scraped.Value("op_seconds_bucket", {{"le", "1.5"}}), kTotal / 2);
  EXPECT_EQ(scraped.Value("op_seconds_bucket", {{"le", "+Inf"}}), kTotal);
  EXPECT_EQ(scraped.Value("op_seconds_bucket", {{"le", "0.5"}}), 0.0);
  EXPECT_EQ(scraped.Value("op_seconds_sum"), kTotal / 2 * 1.0 + kTotal / 2 * 2.0);
  EXPECT_EQ(scraped.Find("per_thread")->samples.size(), static_cast<std::size_t>(kThreads));
}

// Where promtool is: $SHARDMESH_PROMTOOL, else the first `promtool` on $PATH; empty if none.
std::string FindPromtool() {
  if (const char* env = std::getenv("SHARDMESH_PROMTOOL"); env != nullptr && *env != '\0') {
    return env;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/promtool";
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// Prometheus' own linter (Debian package `prometheus`) as a second opinion on the format.
TEST_F(MetricsRegistryTest, PromtoolAcceptsTheRenderedText) {
  const std::string promtool = FindPromtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not found (apt-get install prometheus, or set SHARDMESH_PROMTOOL)";
  }
  auto c = registry_.AddCounter("shardmesh_fetches_total", "Fetches by peer.", {{"peer", "w\"1"}});
  auto g = registry_.AddGauge("shardmesh_members", "Members by state.", {{"state", "alive"}});
  auto h = registry_.AddHistogram("shardmesh_fetch_seconds", "Fetch latency.", {0.001, 0.01, 1});
  ASSERT_TRUE(c.ok() && g.ok() && h.ok());
  (*c)->Inc(3);
  (*g)->Set(2);
  (*h)->Observe(0.005);
  ASSERT_TRUE(registry_
                  .AddHistogramCallback("shardmesh_exchange_seconds", "Exchange latency.",
                                        {0.0001, 0.00025}, {{"node", "a\\b\nc"}},
                                        [] {
                                          return HistogramSnapshot{{1, 2, 3}, 0.5};
                                        })
                  .ok());
  const std::string path =
      ::testing::TempDir() + "/metrics_promtool_" + std::to_string(::getpid()) + ".txt";
  {
    std::ofstream out(path, std::ios::binary);
    out << registry_.RenderText();
  }
  const std::string command = "'" + promtool + "' check metrics < '" + path + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[256];
  while (std::fgets(buf, sizeof(buf), pipe) != nullptr) output += buf;
  const int status = ::pclose(pipe);
  std::remove(path.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace shardmesh
