// `shardmesh read DIR --world-size W --rank R ...`: streams this rank's share of an epoch
// through a StreamingLoader. --ids prints global sample indices in delivery order; --limit,
// --checkpoint-out and --resume stop and continue mid-epoch; --bench prints one line comparing
// the loader's throughput with the raw limit (pread + LZ4_decompress_safe of the same blocks,
// single thread, no parsing) measured in the same run; --export-npy writes the dataset's
// fixed-shape tensor, int64 and float64 fields as .npy files (for the PyTorch baseline).
#include <lz4.h>
#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/common/file.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/streaming_loader.h"

namespace shardmesh::tools {
namespace {

using loader::Dataset;
using loader::Sample;
using loader::StreamingConfig;
using loader::StreamingLoader;

struct ReadArgs {
  std::string dir;
  std::uint32_t world_size = 1;
  std::uint32_t rank = 0;
  std::string strategy = "round-robin";
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
  bool epoch_given = false;  // --epoch on the command line (checked against --resume)
  bool ids = false;
  std::uint64_t limit = 0;
  std::string checkpoint_out;
  std::string resume;
  bool bench = false;
  std::uint32_t prefetch_threads = 1;
  std::uint32_t prefetch_blocks = 8;
  std::uint64_t prefetch_mib = 512;
  std::uint32_t partitions = 64;
  std::uint32_t window = 1;
  bool drop_last = false;
  std::string ranges;
  std::vector<double> throughputs;  // adaptive: one per rank
  std::string export_npy;
};

// Parses "0:500,500:1009" into ranges.
Result<std::vector<loader::SampleRange>> ParseRanges(const std::string& text) {
  std::vector<loader::SampleRange> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(at, end - at);
    const std::size_t colon = item.find(':');
    loader::SampleRange r;
    const char* b = item.data();
    const char* e = item.data() + item.size();
    if (colon == std::string::npos || std::from_chars(b, b + colon, r.begin).ptr != b + colon ||
        std::from_chars(b + colon + 1, e, r.end).ptr != e) {
      return Status::InvalidArgument("--ranges: cannot parse '" + item +
                                     "' (expected BEGIN:END[,BEGIN:END...])");
    }
    out.push_back(r);
    at = end + 1;
  }
  return out;
}

// Reads every field of the sample (one byte of each tensor/bytes/string plus its size, the
// value of scalars), so a benchmark cannot skip parsing.
std::uint64_t Touch(const loader::SampleView& s) {
  std::uint64_t sum = 0;
  for (std::size_t f = 0; f < s.num_fields(); ++f) {
    const loader::FieldView v = s.field(f);
    switch (v.type()) {
      case loader::FieldType::kInt64:
        sum += static_cast<std::uint64_t>(v.AsInt64());
        break;
      case loader::FieldType::kFloat64:
        sum += static_cast<std::uint64_t>(v.AsFloat64());
        break;
      case loader::FieldType::kString:
      case loader::FieldType::kBytes: {
        const ByteView b = v.AsBytes();
        sum += b.size() + (b.empty() ? 0 : b[0]);
        break;
      }
      case loader::FieldType::kTensor: {
        const loader::TensorView t = v.AsTensor();
        sum += t.data.size() + (t.data.empty() ? 0 : t.data[t.data.size() / 2]);
        break;
      }
    }
  }
  return sum;
}

struct RawLimit {
  double seconds = 0;
  std::uint64_t raw_bytes = 0;
};

// Where the raw loop's checksum of decoded bytes goes, so that the decode is not optimised
// away (it printed a stray space to stderr in one run out of 256).
volatile std::uint64_t g_bench_sink = 0;

// pread + LZ4_decompress_safe of `blocks`, single thread, no parsing, no checksum.
Result<RawLimit> MeasureRawLimit(const Dataset& ds, const std::vector<std::uint32_t>& blocks) {
  std::vector<RandomAccessFile> files;
  for (std::uint32_t s = 0; s < ds.num_shards(); ++s) {
    SHARDMESH_ASSIGN_OR_RETURN(RandomAccessFile f, RandomAccessFile::Open(ds.ShardPath(s)));
    files.push_back(std::move(f));
  }
  std::vector<std::uint8_t> in, out;
  RawLimit r;
  std::uint64_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint32_t b : blocks) {
    const loader::BlockInfo& info = ds.blocks()[b];
    in.resize(info.compressed_size);
    out.resize(info.raw_size);
    SHARDMESH_RETURN_IF_ERROR(files[info.shard].ReadAt(info.offset, in));
    const int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data()),
                                      reinterpret_cast<char*>(out.data()),
                                      static_cast<int>(in.size()), static_cast<int>(out.size()));
    if (n < 0) {
      return Status::Corruption(ds.ShardPath(info.shard) + " block " +
                                std::to_string(info.index_in_shard) + ": LZ4 decode failed");
    }
    sink += out[static_cast<std::size_t>(n) / 2];
    r.raw_bytes += static_cast<std::uint64_t>(n);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  g_bench_sink = sink;  // keeps the decode from being optimised away
  return r;
}

// --- .npy export -------------------------------------------------------------------------

// "<field>.npy", with '/', '%', NUL and a leading '.' percent-encoded: a field name (any JSON
// key) never leads outside the output directory ("../x" wrote beside it).
std::string NpyFileName(const std::string& field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    const char c = field[i];
    if (c == '/' || c == '%' || c == '\0' || (i == 0 && c == '.')) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out + ".npy";
}

Status WriteNpy(const std::string& path, const std::string& descr,
                const std::vector<std::int64_t>& shape, const std::string& data) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  }
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string file = std::string("\x93NUMPY\x01\x00", 8);
  file.push_back(static_cast<char>(header.size() & 0xff));
  file.push_back(static_cast<char>(header.size() >> 8));
  file += header;
  file += data;
  return WriteFileAtomically(path, file);
}

std::string NpyDescr(loader::DType d) {
  switch (d) {
    case loader::DType::kFloat32:
      return "<f4";
    case loader::DType::kFloat64:
      return "<f8";
    case loader::DType::kFloat16:
      return "<f2";
    case loader::DType::kInt8:
      return "|i1";
    case loader::DType::kUint8:
      return "|u1";
    case loader::DType::kInt16:
      return "<i2";
    case loader::DType::kInt32:
      return "<i4";
    case loader::DType::kUint32:
      return "<u4";
    case loader::DType::kInt64:
      return "<i8";
    case loader::DType::kBool:
      return "|b1";
  }
  return "|u1";
}

Status ExportNpy(const Dataset& ds, const std::string& out_dir) {
  SHARDMESH_RETURN_IF_ERROR(CreateDirectories(out_dir));
  const auto& fields = ds.schema().fields();
  std::vector<std::size_t> exported;
  for (std::size_t f = 0; f < fields.size(); ++f) {
    const bool fixed_tensor =
        fields[f].type == loader::FieldType::kTensor &&
        std::none_of(fields[f].shape.begin(), fields[f].shape.end(), [](auto d) { return d < 0; });
    if (fixed_tensor || fields[f].type == loader::FieldType::kInt64 ||
        fields[f].type == loader::FieldType::kFloat64) {
      exported.push_back(f);
    } else {
      std::fprintf(stderr, "read: field %s is not exported (%s: no fixed-shape .npy form)\n",
                   fields[f].name.c_str(),
                   fields[f].type == loader::FieldType::kTensor   ? "variable-shape tensor"
                   : fields[f].type == loader::FieldType::kString ? "string"
                                                                  : "bytes");
    }
  }
  std::vector<std::string> data(fields.size());
  for (std::uint32_t b = 0; b < ds.blocks().size(); ++b) {
    SHARDMESH_ASSIGN_OR_RETURN(auto block, ds.ReadBlock(b));
    for (std::size_t i = 0; i < block->num_samples(); ++i) {
      const loader::SampleView s = block->sample(i);
      for (std::size_t f : exported) {
        const loader::FieldView v = s.field(f);
        if (v.type() == loader::FieldType::kInt64) {
          const std::int64_t x = v.AsInt64();
          data[f].append(reinterpret_cast<const char*>(&x), sizeof x);
        } else if (v.type() == loader::FieldType::kFloat64) {
          const double x = v.AsFloat64();
          data[f].append(reinterpret_cast<const char*>(&x), sizeof x);
        } else {
          data[f].append(AsChars(v.AsTensor().data));
        }
      }
    }
  }
  for (std::size_t f : exported) {
    std::vector<std::int64_t> shape = {static_cast<std::int64_t>(ds.num_samples())};
    std::string descr = fields[f].type == loader::FieldType::kFloat64 ? "<f8" : "<i8";
    if (fields[f].type == loader::FieldType::kTensor) {
      shape.insert(shape.end(), fields[f].shape.begin(), fields[f].shape.end());
      descr = NpyDescr(fields[f].dtype);
    }
    const std::string file = NpyFileName(fields[f].name);
    SHARDMESH_RETURN_IF_ERROR(WriteNpy(out_dir + "/" + file, descr, shape, data[f]));
    std::fprintf(stderr, "read: wrote %s/%s\n", out_dir.c_str(), file.c_str());
  }
  return Status::OK();
}

// --- the command ------------------------------------------------------------------------

// Decoded blocks are ~256 KiB buffers freed in a rotating working set of one block per owned
// partition. glibc's defaults hand such frees back to the kernel (heap trim / munmap) and take
// page faults to get them again: 22k faults instead of 3.5k for a 200k-sample epoch at P = 64,
// about 15% of the run. This process keeps them instead. (A buffer pool in the block decoder
// would give library users the same; until then embedders can set these tunables too.)
void KeepFreedBlockBuffers() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

Status RunRead(const ReadArgs& args) {
  KeepFreedBlockBuffers();
  SHARDMESH_ASSIGN_OR_RETURN(std::shared_ptr<const Dataset> ds, Dataset::Open(args.dir));
  if (!args.export_npy.empty()) return ExportNpy(*ds, args.export_npy);

  SHARDMESH_ASSIGN_OR_RETURN(loader::Strategy strategy, loader::ParseStrategy(args.strategy));
  StreamingConfig config(args.world_size, args.rank);
  config.WithStrategy(strategy)
      .WithSeed(args.seed)
      .WithEpoch(args.epoch)
      .WithPartitions(args.partitions)
      .WithShuffleWindowBlocks(args.window)
      .WithPrefetchThreads(args.prefetch_threads)
      .WithPrefetchBlocks(args.prefetch_blocks)
      .WithPrefetchBytes(args.prefetch_mib << 20)
      .WithDropPolicy(args.drop_last ? loader::DropPolicy::kDrop : loader::DropPolicy::kPad);
  if (!args.ranges.empty()) {
    SHARDMESH_ASSIGN_OR_RETURN(auto ranges, ParseRanges(args.ranges));
    config.WithRanges(std::move(ranges));
  }
  if (!args.throughputs.empty()) config.WithAdaptiveThroughputs(args.throughputs);

  std::vector<std::uint8_t> warm;
  std::vector<std::uint32_t> bench_blocks;
  RawLimit raw_first;
  if (args.bench) {
    // The blocks this run will decode, in first-use order; measured raw once before the loader
    // (which also warms the page cache for both) and once after.
    auto layout = loader::MakeDatasetLayout(*ds);
    SHARDMESH_RETURN_IF_ERROR(layout.status());
    auto plan = loader::BuildPartitionPlan(*layout, ds->labels(), config.plan_options());
    SHARDMESH_RETURN_IF_ERROR(plan.status());
    const auto& seq = plan->ranks[args.rank].sequence;
    const std::size_t n = args.limit ? std::min<std::size_t>(args.limit, seq.size()) : seq.size();
    std::vector<bool> seen(layout->num_blocks(), false);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t b = layout->BlockOfSample(seq[i]);
      if (!seen[b]) {
        seen[b] = true;
        bench_blocks.push_back(b);
      }
    }
    SHARDMESH_ASSIGN_OR_RETURN(raw_first, MeasureRawLimit(*ds, bench_blocks));
  }

  SHARDMESH_ASSIGN_OR_RETURN(std::unique_ptr<StreamingLoader> stream,
                             StreamingLoader::Create(ds, config));
  if (!args.resume.empty()) {
    SHARDMESH_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(args.resume));
    auto state = checkpoint::DecodeStreamState(AsBytes(bytes));
    if (!state.ok()) return state.status().WithContext(args.resume);
    if (args.epoch_given && state->epoch != args.epoch) {
      return Status::InvalidArgument(args.resume + ": the stream state is of epoch " +
                                     std::to_string(state->epoch) + ", --epoch says " +
                                     std::to_string(args.epoch) +
                                     " (a resume continues its own epoch; omit --epoch)");
    }
    SHARDMESH_RETURN_IF_ERROR(stream->RestoreFromCheckpoint(*state).WithContext(args.resume));
  }

  std::string out;
  out.reserve(1 << 16);
  std::uint64_t delivered = 0, sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (args.limit == 0 || delivered < args.limit) {
    SHARDMESH_ASSIGN_OR_RETURN(std::optional<Sample> s, stream->Next());
    if (!s) break;
    ++delivered;
    if (args.bench) sink += Touch(s->view);
    if (args.ids) {
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, s->global_index());
      out.append(buf, end);
      out.push_back('\n');
      if (out.size() > (1 << 16) - 32) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);

  if (!args.checkpoint_out.empty()) {
    const std::string bytes = checkpoint::EncodeStreamState(stream->GetCheckpoint());
    SHARDMESH_RETURN_IF_ERROR(WriteFileAtomically(args.checkpoint_out, bytes));
  }
  const loader::LoaderStats stats = stream->stats();
  if (args.bench) {
    SHARDMESH_ASSIGN_OR_RETURN(RawLimit raw_second, MeasureRawLimit(*ds, bench_blocks));
    const double raw_seconds = std::min(raw_first.seconds, raw_second.seconds);
    const double mb = static_cast<double>(stats.bytes_decompressed) / 1e6;
    const double raw_mbps = raw_seconds > 0 ? raw_second.raw_bytes / 1e6 / raw_seconds : 0;
    const double mbps = seconds > 0 ? mb / seconds : 0;
    std::printf(
        "read-bench: samples=%llu seconds=%.3f samples/s=%.0f MB/s=%.1f raw_limit_MB/s=%.1f "
        "ratio=%.2f blocks=%llu threads=%u world_size=%u rank=%u strategy=%s "
        "decode_amplification=%.2f checksum=%llu\n",
        static_cast<unsigned long long>(delivered), seconds,
        seconds > 0 ? delivered / seconds : 0.0, mbps, raw_mbps,
        raw_mbps > 0 ? mbps / raw_mbps : 0.0, static_cast<unsigned long long>(stats.blocks_decoded),
        stream->decode_threads(), args.world_size, args.rank, args.strategy.c_str(),
        stats.decode_amplification, static_cast<unsigned long long>(sink % 1000));
  } else if (!args.ids) {
    std::fprintf(stderr, "read: delivered %llu of %llu samples (epoch %llu); %s\n",
                 static_cast<unsigned long long>(delivered),
                 static_cast<unsigned long long>(stream->Len()),
                 static_cast<unsigned long long>(stream->epoch()), stats.ToString().c_str());
  }
  return Status::OK();
}

}  // namespace

void RegisterRead(CLI::App& app) {
  auto args = std::make_shared<ReadArgs>();
  CLI::App* cmd = app.add_subcommand(
      "read", "Stream this rank's share of an epoch (static mode): ids, checkpoints, benchmark");
  cmd->add_option("dir", args->dir, "Dataset directory")->required();
  cmd->add_option("--world-size", args->world_size, "Number of ranks (default 1)")
      ->transform(UnsignedDecimal());
  cmd->add_option("--rank", args->rank, "This rank, 0..world-size-1 (default 0)")
      ->transform(UnsignedDecimal());
  cmd->add_option("--strategy", args->strategy,
                  "round-robin (default), contiguous, hash, range, stratified, adaptive");
  cmd->add_option("--seed", args->seed, "Seed of the epoch order (default 0)")
      ->transform(UnsignedDecimal());
  cmd->add_option("--epoch", args->epoch, "Epoch (default 0)")->transform(UnsignedDecimal());
  cmd->add_flag("--ids", args->ids, "Print each delivered global sample index, one per line");
  cmd->add_option("--limit", args->limit, "Stop after this many samples (0 = whole epoch)")
      ->transform(UnsignedDecimal());
  cmd->add_option("--checkpoint-out", args->checkpoint_out,
                  "Write the stream state at the stop to this file (atomically)");
  cmd->add_option("--resume", args->resume, "Continue from a stream state file");
  cmd->add_flag("--bench", args->bench,
                "Print one line: samples/s, MB/s and the raw pread+LZ4 limit of the same blocks");
  cmd->add_option("--prefetch-threads", args->prefetch_threads,
                  "Background decode threads (default 1; 0, or a process that may run on one "
                  "CPU only: the reader decodes each block itself)")
      ->transform(UnsignedDecimal());
  cmd->add_option("--prefetch-blocks", args->prefetch_blocks,
                  "Decoded blocks kept ahead of the consumer (default 8)")
      ->transform(UnsignedDecimal());
  cmd->add_option("--prefetch-mib", args->prefetch_mib,
                  "Memory budget for decoded blocks, MiB (default 512)")
      ->transform(UnsignedDecimal())
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 30));  // 1 PiB: no overflow
  cmd->add_option("--partitions", args->partitions, "Canonical partitions (default 64)")
      ->transform(UnsignedDecimal());
  cmd->add_option("--shuffle-window", args->window, "Blocks per shuffle window (default 1)")
      ->transform(UnsignedDecimal());
  cmd->add_flag("--drop-last", args->drop_last,
                "Deliver floor(N/W) per rank instead of padding to ceil(N/W) (not adaptive: its "
                "shares follow per-rank throughputs and are not equalised)");
  cmd->add_option("--ranges", args->ranges,
                  "range strategy: BEGIN:END per rank, comma separated (rank order); counts "
                  "are balanced, so samples past ceil(N/W) of a long range go to ranks with "
                  "shorter ones");
  cmd->add_option("--throughputs", args->throughputs,
                  "adaptive strategy: relative throughput of every rank, comma separated (rank "
                  "order; default equal)")
      ->delimiter(',');
  cmd->add_option("--export-npy", args->export_npy,
                  "Write the fixed-shape tensor, int64 and float64 fields to OUT/<field>.npy and "
                  "exit ('/', '%' and a leading '.' in a name are written %XX)");
  cmd->callback([args, cmd] {
    args->epoch_given = cmd->count("--epoch") > 0;
    Status s = Status::OK();
    for (const char* file : {"--checkpoint-out", "--resume", "--export-npy"}) {
      if (cmd->count(file) > 0 && cmd->get_option(file)->as<std::string>().empty()) {
        s = Status::InvalidArgument(std::string(file) + ": empty file name");
      }
    }
    if (s.ok() && !args->export_npy.empty()) {
      // The export is the whole dataset in index order: every other option would be ignored.
      for (const CLI::Option* other : cmd->get_options()) {
        const std::string name = other->get_name();
        if (other->count() == 0 || name == "dir" || name == "--export-npy") continue;
        s = Status::InvalidArgument(
            "--export-npy writes the whole dataset in index order; it "
            "takes no " +
            name);
        break;
      }
    }
    // Refuse a target that cannot be written before reading the epoch, not after it.
    if (s.ok() && !args->checkpoint_out.empty()) s = CheckReplaceable(args->checkpoint_out);
    if (s.ok()) s = RunRead(*args);
    if (!s.ok()) {
      std::fprintf(stderr, "read: %s\n", s.ToString().c_str());
      SetExitCode(s.IsInvalidArgument() ? 2 : 1);
    }
  });
}

}  // namespace shardmesh::tools
