#include "shardmesh/loader/shard_reader.h"

#include <cstring>
#include <vector>

#include "msgpack_lite.h"
#include "shardmesh/common/hash.h"

namespace shardmesh::loader {
namespace {

std::uint64_t GetLE(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Status CheckHeader(ByteView header, std::string_view where) {
  if (header.size() < kShardHeaderSize) {
    return Status::Corruption(std::string(where) + ": truncated: shorter than the header");
  }
  if (std::memcmp(header.data(), kShardMagic.data(), 8) != 0) {
    return Status::Corruption(std::string(where) + ": bad magic (not a shardmesh shard file)");
  }
  const auto version = static_cast<std::uint32_t>(GetLE(header.data() + 8, 4));
  if (version != kShardFormatVersion) {
    return Status::Corruption(std::string(where) + ": unsupported shard format version " +
                              std::to_string(version) + " (this reader knows " +
                              std::to_string(kShardFormatVersion) + ")");
  }
  return Status::OK();
}

struct Trailer {
  std::uint64_t footer_size;
  std::uint64_t footer_checksum;
  std::uint64_t footer_start;
};

Result<Trailer> ParseTrailer(ByteView trailer, std::uint64_t file_size, std::string_view where) {
  if (file_size < kShardHeaderSize + kShardTrailerSize) {
    return Status::Corruption(std::string(where) + ": truncated: " + std::to_string(file_size) +
                              " bytes cannot hold header and trailer");
  }
  if (std::memcmp(trailer.data() + 16, kShardTrailerMagic.data(), 8) != 0) {
    return Status::Corruption(std::string(where) +
                              ": bad trailer magic (file truncated or overwritten)");
  }
  Trailer t;
  t.footer_size = GetLE(trailer.data(), 8);
  t.footer_checksum = GetLE(trailer.data() + 8, 8);
  const std::uint64_t room = file_size - kShardHeaderSize - kShardTrailerSize;
  if (t.footer_size == 0 || t.footer_size > room || t.footer_size > kMaxFooterBytes) {
    return Status::Corruption(std::string(where) + ": footer length " +
                              std::to_string(t.footer_size) + " out of range");
  }
  t.footer_start = file_size - kShardTrailerSize - t.footer_size;
  return t;
}

Status CheckFooterAgainstFile(const ShardFooter& footer, std::uint64_t footer_start,
                              std::string_view where) {
  std::uint64_t next = kShardHeaderSize;
  for (std::size_t i = 0; i < footer.blocks.size(); ++i) {
    const ShardBlock& b = footer.blocks[i];
    if (b.offset < next || b.offset > footer_start || b.compressed_size > footer_start - b.offset) {
      return Status::Corruption(BlockWhere(where, static_cast<std::uint32_t>(i)) + ": range [" +
                                std::to_string(b.offset) + ", +" +
                                std::to_string(b.compressed_size) +
                                ") outside the block area or overlapping");
    }
    next = b.offset + b.compressed_size;
  }
  return Status::OK();
}

}  // namespace

std::string BlockWhere(std::string_view path, std::uint32_t block) {
  return std::string(path) + " block " + std::to_string(block);
}

std::string EncodeShardFooter(const ShardFooter& footer) {
  std::vector<std::uint8_t> out;
  mp::WriteArrayHeader(out, 5);
  mp::WriteUint(out, kShardFormatVersion);
  mp::WriteUint(out, footer.schema_digest);
  mp::WriteUint(out, footer.num_samples);
  mp::WriteArrayHeader(out, static_cast<std::uint32_t>(footer.blocks.size()));
  for (const ShardBlock& b : footer.blocks) {
    mp::WriteArrayHeader(out, 5);
    mp::WriteUint(out, b.offset);
    mp::WriteUint(out, b.compressed_size);
    mp::WriteUint(out, b.raw_size);
    mp::WriteUint(out, b.num_samples);
    mp::WriteUint(out, b.checksum);
  }
  std::vector<std::uint8_t> labels(footer.labels.size() * 8);
  for (std::size_t i = 0; i < footer.labels.size(); ++i) {
    const auto v = static_cast<std::uint64_t>(footer.labels[i]);
    for (int k = 0; k < 8; ++k)
      labels[i * 8 + static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(v >> (8 * k));
  }
  mp::WriteBin(out, labels.data(), labels.size());
  return std::string(out.begin(), out.end());
}

Result<ShardFooter> ParseShardFooter(ByteView bytes, std::string_view where) {
  auto bad = [&](std::string_view what) {
    return Status::Corruption(std::string(where) + ": footer: " + std::string(what));
  };
  mp::Reader r(bytes.data(), bytes.size());
  std::uint32_t n = 0;
  std::uint64_t version = 0;
  if (!r.ReadArrayHeader(&n) || n != 5) return bad("not an array of 5");
  if (!r.ReadUint(&version)) return bad("bad version");
  if (version != kShardFormatVersion) {
    return bad("unsupported version " + std::to_string(version));
  }
  ShardFooter footer;
  if (!r.ReadUint(&footer.schema_digest)) return bad("bad schema digest");
  if (!r.ReadUint(&footer.num_samples)) return bad("bad sample count");
  std::uint32_t num_blocks = 0;
  if (!r.ReadArrayHeader(&num_blocks)) return bad("bad block index");
  // Each index entry takes at least 6 bytes; a larger count cannot be real.
  if (num_blocks > r.remaining() / 6) return bad("block count exceeds the footer size");
  footer.blocks.resize(num_blocks);
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < num_blocks; ++i) {
    ShardBlock& b = footer.blocks[i];
    std::uint32_t m = 0;
    std::uint64_t csize, rsize, samples;
    if (!r.ReadArrayHeader(&m) || m != 5 || !r.ReadUint(&b.offset) || !r.ReadUint(&csize) ||
        !r.ReadUint(&rsize) || !r.ReadUint(&samples) || !r.ReadUint(&b.checksum)) {
      return bad("malformed entry for block " + std::to_string(i));
    }
    if (csize == 0 || csize > 0xffffffffULL || rsize == 0 || rsize > kMaxBlockRawBytes ||
        samples == 0 || samples > rsize) {
      return bad("block " + std::to_string(i) + " has impossible sizes");
    }
    b.compressed_size = static_cast<std::uint32_t>(csize);
    b.raw_size = static_cast<std::uint32_t>(rsize);
    b.num_samples = static_cast<std::uint32_t>(samples);
    total += samples;
  }
  if (total != footer.num_samples) {
    return bad("blocks hold " + std::to_string(total) + " samples, footer says " +
               std::to_string(footer.num_samples));
  }
  std::uint32_t off = 0, len = 0;
  if (!r.ReadBin(&off, &len)) return bad("bad labels");
  if (len != 0) {
    if (len % 8 != 0 || len / 8 != footer.num_samples) {
      return bad("labels for " + std::to_string(len / 8) + " samples, footer has " +
                 std::to_string(footer.num_samples));
    }
    footer.labels.resize(len / 8);
    for (std::size_t i = 0; i < footer.labels.size(); ++i) {
      footer.labels[i] = static_cast<std::int64_t>(GetLE(bytes.data() + off + i * 8, 8));
    }
  }
  if (!r.at_end()) return bad("trailing bytes");
  return footer;
}

Result<ShardFooter> ParseShardImage(ByteView file, std::string_view where) {
  SHARDMESH_RETURN_IF_ERROR(CheckHeader(file, where));
  if (file.size() < kShardHeaderSize + kShardTrailerSize) {
    return Status::Corruption(std::string(where) + ": truncated: no trailer");
  }
  SHARDMESH_ASSIGN_OR_RETURN(
      Trailer t, ParseTrailer(file.subspan(file.size() - kShardTrailerSize), file.size(), where));
  const ByteView footer_bytes = file.subspan(t.footer_start, t.footer_size);
  if (Hash64(footer_bytes) != t.footer_checksum) {
    return Status::Corruption(std::string(where) + ": footer checksum mismatch");
  }
  SHARDMESH_ASSIGN_OR_RETURN(ShardFooter footer, ParseShardFooter(footer_bytes, where));
  SHARDMESH_RETURN_IF_ERROR(CheckFooterAgainstFile(footer, t.footer_start, where));
  return footer;
}

Result<std::unique_ptr<ShardReader>> ShardReader::Open(const std::string& path) {
  std::unique_ptr<ShardReader> reader(new ShardReader());
  SHARDMESH_ASSIGN_OR_RETURN(reader->file_, RandomAccessFile::Open(path));
  const std::uint64_t size = reader->file_.size();
  if (size < kShardHeaderSize + kShardTrailerSize) {
    return Status::Corruption(path + ": truncated: " + std::to_string(size) +
                              " bytes cannot hold header and trailer");
  }
  std::uint8_t header[kShardHeaderSize];
  SHARDMESH_RETURN_IF_ERROR(reader->file_.ReadAt(0, header));
  SHARDMESH_RETURN_IF_ERROR(CheckHeader(header, path));
  std::uint8_t trailer_bytes[kShardTrailerSize];
  SHARDMESH_RETURN_IF_ERROR(reader->file_.ReadAt(size - kShardTrailerSize, trailer_bytes));
  SHARDMESH_ASSIGN_OR_RETURN(Trailer t, ParseTrailer(trailer_bytes, size, path));
  std::vector<std::uint8_t> footer_bytes(t.footer_size);
  SHARDMESH_RETURN_IF_ERROR(reader->file_.ReadAt(t.footer_start, footer_bytes));
  if (Hash64(footer_bytes) != t.footer_checksum) {
    return Status::Corruption(path + ": footer checksum mismatch");
  }
  SHARDMESH_ASSIGN_OR_RETURN(reader->footer_, ParseShardFooter(footer_bytes, path));
  SHARDMESH_RETURN_IF_ERROR(CheckFooterAgainstFile(reader->footer_, t.footer_start, path));
  reader->footer_checksum_ = t.footer_checksum;
  return reader;
}

Result<SharedBytes> ShardReader::ReadCompressedBlock(std::uint32_t i) const {
  if (i >= footer_.blocks.size()) {
    return Status::InvalidArgument(BlockWhere(path(), i) + ": no such block (shard has " +
                                   std::to_string(footer_.blocks.size()) + ")");
  }
  const ShardBlock& b = footer_.blocks[i];
  std::shared_ptr<std::uint8_t[]> buffer(new std::uint8_t[b.compressed_size]);
  const Status s = file_.ReadAt(b.offset, {buffer.get(), b.compressed_size});
  if (!s.ok()) return s.WithContext(BlockWhere(path(), i));
  const ByteView view(buffer.get(), b.compressed_size);
  if (Hash64(view) != b.checksum) {
    return Status::Corruption(BlockWhere(path(), i) + ": checksum mismatch");
  }
  return SharedBytes(std::shared_ptr<const void>(std::move(buffer)), view);
}

Result<ByteView> ShardReader::ReadCompressedBlockInto(std::uint32_t i,
                                                      std::vector<std::uint8_t>& scratch) const {
  if (i >= footer_.blocks.size()) {
    return Status::InvalidArgument(BlockWhere(path(), i) + ": no such block (shard has " +
                                   std::to_string(footer_.blocks.size()) + ")");
  }
  const ShardBlock& b = footer_.blocks[i];
  if (scratch.size() < b.compressed_size) scratch.resize(b.compressed_size);
  const Status s = file_.ReadAt(b.offset, {scratch.data(), b.compressed_size});
  if (!s.ok()) return s.WithContext(BlockWhere(path(), i));
  const ByteView view(scratch.data(), b.compressed_size);
  if (Hash64(view) != b.checksum) {
    return Status::Corruption(BlockWhere(path(), i) + ": checksum mismatch");
  }
  return view;
}

Result<std::uint64_t> ShardReader::ComputeFileChecksum() const {
  Hasher64 h;
  std::vector<std::uint8_t> chunk(1 << 20);
  for (std::uint64_t off = 0; off < file_.size(); off += chunk.size()) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), file_.size() - off));
    SHARDMESH_RETURN_IF_ERROR(file_.ReadAt(off, {chunk.data(), n}));
    h.Update(chunk.data(), n);
  }
  return h.Digest();
}

}  // namespace shardmesh::loader
