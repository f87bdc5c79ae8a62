// Checkpoint benchmarks (issue 5), a driver with its own main that prints one line per figure:
//  (a) blob save throughput (BlobCheckpointer::SaveAsync(...).get(): hash, write, fsync,
//      rename, fsync dir) beside `dd if=<same bytes> of=<same dir> bs=1M count=N conv=fsync`,
//      run alternately in the same process, for a blob of zeros (dd if=/dev/zero) and one of
//      random bytes (dd reads a copy from tmpfs). dd's own timing (from its report) is used,
//      so process start-up is not charged to it. Neither timing includes freeing the previous
//      file: dd's output is deleted before each run, and the checkpointer prunes its previous
//      blob after the future is ready (Flush waits for it, untimed).
//  (b) stream-state save latency (encode + CheckpointStore::Save) for a 1,000,000-sample
//      epoch's state with P canonical partitions, beside a raw write + fsync of the same bytes
//      to one file (no temp file, rename or directory fsync).
//
// Usage: checkpoint_bench [--dir DIR] [--sizes-mib 64,256] [--reps 5] [--stream-saves 300]
//                         [--partitions 1024] [--samples 1000000] [--verbose 1]
//                         [--shm-dir /dev/shm]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "shardmesh/checkpoint/blob_checkpoint.h"
#include "shardmesh/checkpoint/checkpoint_store.h"
#include "shardmesh/checkpoint/stream_checkpoint.h"
#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/common/random.h"

namespace {

using namespace shardmesh;
using namespace shardmesh::checkpoint;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string dir = "checkpoint-bench";
  std::vector<std::size_t> sizes_mib = {64, 256};
  int reps = 5;
  int stream_saves = 300;
  std::uint32_t partitions = 1024;
  std::uint64_t samples = 1000000;
  bool verbose = false;              // print every run's MB/s
  std::string shm_dir = "/dev/shm";  // where dd's copy of the random blob is kept (tmpfs)
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "checkpoint_bench: %s\n", what.c_str());
  std::exit(1);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) Die("missing value for " + k);
    const std::string v = argv[++i];
    if (k == "--dir") {
      a.dir = v;
    } else if (k == "--sizes-mib") {
      a.sizes_mib.clear();
      for (std::size_t p = 0; p <= v.size();) {
        const std::size_t q = std::min(v.find(',', p), v.size());
        a.sizes_mib.push_back(std::stoul(v.substr(p, q - p)));
        p = q + 1;
      }
    } else if (k == "--reps") {
      a.reps = std::stoi(v);
    } else if (k == "--stream-saves") {
      a.stream_saves = std::stoi(v);
    } else if (k == "--partitions") {
      a.partitions = static_cast<std::uint32_t>(std::stoul(v));
    } else if (k == "--shm-dir") {
      a.shm_dir = v;
    } else if (k == "--verbose") {
      a.verbose = v == "1";
    } else if (k == "--samples") {
      a.samples = std::stoull(v);
    } else {
      Die("unknown flag " + k);
    }
  }
  return a;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()));
  return v[i];
}

// Runs dd and returns the seconds it reports ("... copied, 0.351 s, 765 MB/s").
double RunDd(const std::string& in, const std::string& out, std::size_t mib) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) Die("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    ::dup2(pipe_fds[1], 2);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    const std::string inf = "if=" + in;
    const std::string of = "of=" + out;
    const std::string count = "count=" + std::to_string(mib);
    ::execlp("dd", "dd", inf.c_str(), of.c_str(), "bs=1M", count.c_str(), "conv=fsync",
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0;) report.append(buf, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("dd failed: " + report);
  const std::size_t at = report.find("copied, ");
  if (at == std::string::npos) Die("cannot parse dd report: " + report);
  return std::strtod(report.c_str() + at + 8, nullptr);
}

// One size and one kind of data. dd reads the same bytes: /dev/zero for zeros, or a copy of
// the random blob in tmpfs (the virtual disk here writes zeros faster than random data, so
// only a same-data comparison is fair).
void BlobVsDdOnce(const Args& args, BlobCheckpointer& ckpt, std::uint64_t& step, std::size_t mib,
                  bool zeros) {
  const std::string dd_out = ckpt.store().dir() + "/dd.out";
  const std::size_t size = mib << 20;
  auto owner = std::make_shared<std::string>(size, '\0');
  std::string dd_in = "/dev/zero";
  if (!zeros) {
    Rng rng(mib);
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
      const std::uint64_t x = rng.Next();
      std::memcpy(owner->data() + i, &x, 8);
    }
    dd_in = args.shm_dir + "/checkpoint_bench_" + std::to_string(::getpid()) + ".in";
    std::FILE* f = std::fopen(dd_in.c_str(), "wb");
    if (f == nullptr || std::fwrite(owner->data(), 1, size, f) != size || std::fclose(f) != 0) {
      Die("cannot write dd input " + dd_in);
    }
  }
  const SharedBytes blob(owner, AsBytes(*owner));
  std::vector<double> ours, dd, submit_us;
  // One unmeasured round of each, so both start with the same allocated-and-freed history.
  (void)RunDd(dd_in, dd_out, mib);
  std::filesystem::remove(dd_out);
  if (Status s = ckpt.SaveAsync(blob, step++).get(); !s.ok()) Die(s.ToString());
  if (Status s = ckpt.Flush(); !s.ok()) Die(s.ToString());
  for (int r = 0; r < args.reps; ++r) {
    for (int turn = 0; turn < 2; ++turn) {
      ::sync();
      if ((turn == 0) == (r % 2 == 0)) {
        dd.push_back(RunDd(dd_in, dd_out, mib));
        std::filesystem::remove(dd_out);
      } else {
        const auto t0 = Clock::now();
        std::future<Status> saved = ckpt.SaveAsync(blob, step++);
        submit_us.push_back(Seconds(Clock::now() - t0) * 1e6);
        if (Status s = saved.get(); !s.ok()) Die(s.ToString());
        ours.push_back(Seconds(Clock::now() - t0));
        if (Status s = ckpt.Flush(); !s.ok()) Die(s.ToString());
      }
    }
  }
  if (!zeros) std::filesystem::remove(dd_in);
  auto mbps = [size](double s) { return static_cast<double>(size) / 1e6 / s; };
  if (args.verbose) {
    for (std::size_t i = 0; i < ours.size() && i < dd.size(); ++i) {
      std::printf("  run %zu: shardmesh %.1f MB/s, dd %.1f MB/s\n", i, mbps(ours[i]), mbps(dd[i]));
    }
  }
  const double ours_mbps = mbps(Median(ours));
  const double dd_mbps = mbps(Median(dd));
  std::printf(
      "blob save %zu MiB of %s: shardmesh %.1f MB/s (median of %d; best %.1f), dd "
      "if=%s conv=fsync %.1f MB/s (best %.1f), ratio %.3f; SaveAsync returned in %.0f us\n",
      mib, zeros ? "zeros" : "random bytes", ours_mbps, args.reps,
      mbps(*std::min_element(ours.begin(), ours.end())), dd_mbps,
      zeros ? "/dev/zero" : "<same bytes in tmpfs>", mbps(*std::min_element(dd.begin(), dd.end())),
      ours_mbps / dd_mbps, Median(submit_us));
  std::fflush(stdout);
}

void BlobVsDd(const Args& args) {
  const std::string dir = args.dir + "/blob";
  std::filesystem::remove_all(dir);
  BlobCheckpointerOptions o;
  o.keep_last = 1;
  auto ckpt = BlobCheckpointer::Create(dir, o);
  if (!ckpt.ok()) Die(ckpt.status().ToString());
  std::uint64_t step = 0;
  for (std::size_t mib : args.sizes_mib) {
    for (const bool zeros : {true, false}) BlobVsDdOnce(args, **ckpt, step, mib, zeros);
  }
}

StreamState EpochState(const Args& args) {
  StreamState s;
  s.epoch = 7;
  s.seed = 0x5eed;
  s.world_size = 16;
  s.rank = 5;
  s.sequence_length = args.samples;
  s.position = args.samples * 2 / 3;
  s.plan_digest = 0x0123456789abcdefULL;
  s.membership_digest = 0xfedcba9876543210ULL;
  s.timestamp_ms = 1763780000000;
  s.strategy = 1;
  // Partly consumed partitions: each holds samples / P, and the stream is 2/3 through.
  Rng rng(42);
  const std::uint64_t per = args.samples / args.partitions;
  for (std::uint32_t p = 0; p < args.partitions; ++p) {
    s.cursors.push_back({p, per / 3 + rng.Next() % (per - per / 3 + 1)});
  }
  return s;
}

void StreamSaves(const Args& args) {
  const std::string dir = args.dir + "/stream";
  std::filesystem::remove_all(dir);
  auto store = CheckpointStore::Create(dir);
  if (!store.ok()) Die(store.status().ToString());
  StreamState state = EpochState(args);
  const std::string encoded = EncodeStreamState(state);
  std::vector<double> save_us, raw_us, encode_us;
  const std::string raw_path = dir + "/raw.bin";
  for (int i = 0; i < args.stream_saves + 10; ++i) {
    state.position += 1;
    state.cursors[i % state.cursors.size()].consumed += 1;
    auto t0 = Clock::now();
    const std::string bytes = EncodeStreamState(state);
    const double enc = Seconds(Clock::now() - t0) * 1e6;
    if (Status s = store->Save(static_cast<std::uint64_t>(i), AsBytes(bytes)); !s.ok()) {
      Die(s.ToString());
    }
    const double save = Seconds(Clock::now() - t0) * 1e6;
    t0 = Clock::now();
    const int fd = ::open(raw_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()) ||
        ::fsync(fd) != 0) {
      Die("raw write to " + raw_path + " failed");
    }
    ::close(fd);
    const double raw = Seconds(Clock::now() - t0) * 1e6;
    if (i < 10) continue;  // warm-up
    encode_us.push_back(enc);
    save_us.push_back(save);
    raw_us.push_back(raw);
  }
  auto load_t0 = Clock::now();
  auto loaded = LoadLatestStreamState(*store);
  const double load_us = Seconds(Clock::now() - load_t0) * 1e6;
  if (!loaded.ok() || !(loaded->state == state)) Die("reload of the last stream state failed");
  std::printf(
      "stream state, %llu-sample epoch, P=%u: encoded %zu bytes (file %zu); encode %.1f us "
      "p50; save (encode + atomic store) p50 %.0f us, p99 %.0f us, max %.0f us over %d saves; "
      "raw write+fsync of the same bytes p50 %.0f us, p99 %.0f us; LoadLatest %.0f us\n",
      static_cast<unsigned long long>(args.samples), args.partitions, encoded.size(),
      encoded.size() + 40, Median(encode_us), Median(save_us), Percentile(save_us, 0.99),
      *std::max_element(save_us.begin(), save_us.end()), args.stream_saves, Median(raw_us),
      Percentile(raw_us, 0.99), load_us);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  std::filesystem::create_directories(args.dir);
  if (!args.sizes_mib.empty() && args.reps > 0) BlobVsDd(args);
  if (args.stream_saves > 0) StreamSaves(args);
  std::filesystem::remove_all(args.dir);
  return 0;
}
