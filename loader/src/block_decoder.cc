#include <lz4.h>

#include <memory>

#include "block_parsers.h"
#include "msgpack_lite.h"
#include "shardmesh/loader/block_codec.h"
#include "shardmesh/loader/shard_reader.h"

namespace shardmesh::loader {

Result<SharedBytes> DecompressBlock(ByteView compressed, std::uint32_t raw_size,
                                    std::string_view where) {
  // LZ4 cannot expand data more than ~255x; a larger claim means a damaged index, and
  // refusing it keeps a bad footer from requesting a huge allocation.
  if (raw_size == 0 || raw_size > kMaxBlockRawBytes ||
      static_cast<std::uint64_t>(raw_size) >
          256 * static_cast<std::uint64_t>(compressed.size()) + 64) {
    return Status::Corruption(std::string(where) + ": implausible raw size " +
                              std::to_string(raw_size) + " for " +
                              std::to_string(compressed.size()) + " compressed bytes");
  }
  // Not zero-filled: LZ4 writes every byte, and a memset would cost a noticeable share of
  // the decompression time.
  std::shared_ptr<std::uint8_t[]> buffer(new std::uint8_t[raw_size]);
  const int n = LZ4_decompress_safe(
      reinterpret_cast<const char*>(compressed.data()), reinterpret_cast<char*>(buffer.get()),
      static_cast<int>(compressed.size()), static_cast<int>(raw_size));
  if (n < 0) return Status::Corruption(std::string(where) + ": LZ4 data is malformed");
  if (static_cast<std::uint32_t>(n) != raw_size) {
    return Status::Corruption(std::string(where) + ": decompressed to " + std::to_string(n) +
                              " bytes, index says " + std::to_string(raw_size));
  }
  ByteView view(buffer.get(), raw_size);
  return SharedBytes(std::shared_ptr<const void>(std::move(buffer)), view);
}

Result<std::shared_ptr<const DecodedBlock>> ParseBlock(
    const Schema& schema, SharedBytes raw, std::uint64_t first_sample,
    std::optional<std::uint32_t> expected_samples, std::string_view where, BlockParser parser) {
  if (raw.size() > kMaxBlockRawBytes) {
    return Status::Corruption(std::string(where) + ": block larger than 1 GiB");
  }
  internal::DecodedBlockParts parts;
  parts.schema = schema;
  parts.raw = std::move(raw);
  parts.first_sample = first_sample;
  Status s;
  switch (parser) {
    case BlockParser::kDirect:
      s = internal::ParseDirect(parts, expected_samples, where);
      break;
    case BlockParser::kMsgpackUnpack:
      s = internal::ParseWithMsgpackUnpack(parts, expected_samples, where);
      break;
    case BlockParser::kMsgpackVisitor:
      s = internal::ParseWithMsgpackVisitor(parts, expected_samples, where);
      break;
  }
  if (!s.ok()) return s;
  return std::shared_ptr<const DecodedBlock>(std::make_shared<DecodedBlock>(std::move(parts)));
}

namespace internal {

namespace {

Status Bad(std::string_view where, std::size_t sample, const FieldSpec& f, std::string_view what) {
  return Status::Corruption(std::string(where) + ": sample " + std::to_string(sample) + " field '" +
                            f.name + "': " + std::string(what));
}

}  // namespace

Status ParseDirect(DecodedBlockParts& parts, std::optional<std::uint32_t> expected_samples,
                   std::string_view where) {
  const Schema& schema = parts.schema;
  const std::vector<FieldSpec>& fields = schema.fields();
  const std::size_t nf = fields.size();
  mp::Reader r(parts.raw.data(), parts.raw.size());
  std::uint32_t n = 0;
  if (!r.ReadArrayHeader(&n)) {
    return Status::Corruption(std::string(where) + ": block is not a msgpack array");
  }
  if (expected_samples && n != *expected_samples) {
    return Status::Corruption(std::string(where) + ": block holds " + std::to_string(n) +
                              " samples, index says " + std::to_string(*expected_samples));
  }
  // Every sample takes at least one byte, so a larger count is a lie; checking first keeps a
  // damaged header from requesting a huge slot table.
  if (n > r.remaining()) {
    return Status::Corruption(std::string(where) + ": sample count " + std::to_string(n) +
                              " exceeds the block's " + std::to_string(r.remaining()) + " bytes");
  }
  parts.slots.resize(static_cast<std::size_t>(n) * nf);
  FieldSlot* slot = parts.slots.data();
  for (std::uint32_t s = 0; s < n; ++s) {
    std::uint32_t m = 0;
    if (!r.ReadArrayHeader(&m) || m != nf) {
      return Status::Corruption(std::string(where) + ": sample " + std::to_string(s) +
                                " is not an array of " + std::to_string(nf) + " fields");
    }
    for (std::size_t f = 0; f < nf; ++f, ++slot) {
      const FieldSpec& spec = fields[f];
      switch (spec.type) {
        case FieldType::kInt64: {
          std::int64_t v;
          if (!r.ReadInt(&v)) return Bad(where, s, spec, "expected int64");
          slot->word = static_cast<std::uint64_t>(v);
          break;
        }
        case FieldType::kFloat64: {
          double d;
          if (!r.ReadFloat64(&d)) return Bad(where, s, spec, "expected float64");
          std::memcpy(&slot->word, &d, sizeof d);
          break;
        }
        case FieldType::kString: {
          std::uint32_t off, len;
          if (!r.ReadStr(&off, &len)) return Bad(where, s, spec, "expected string");
          slot->word = off;
          slot->length = len;
          break;
        }
        case FieldType::kBytes: {
          std::uint32_t off, len;
          if (!r.ReadBin(&off, &len)) return Bad(where, s, spec, "expected bytes");
          slot->word = off;
          slot->length = len;
          break;
        }
        case FieldType::kTensor: {
          std::uint32_t off, len;
          if (schema.IsFixedTensor(f)) {
            if (!r.ReadBin(&off, &len)) return Bad(where, s, spec, "expected tensor bin");
            if (len != schema.FixedTensorBytes(f)) {
              return Bad(where, s, spec,
                         "tensor of " + std::to_string(len) + " bytes, shape needs " +
                             std::to_string(schema.FixedTensorBytes(f)));
            }
            slot->shape = kFixedShape;
          } else {
            std::uint32_t pair, rank;
            if (!r.ReadArrayHeader(&pair) || pair != 2 || !r.ReadArrayHeader(&rank) ||
                rank != spec.shape.size()) {
              return Bad(where, s, spec, "expected [[dims...], bin] of the schema's rank");
            }
            slot->shape = static_cast<std::uint32_t>(parts.shape_pool.size());
            std::uint64_t elements = 1;
            for (std::uint32_t d = 0; d < rank; ++d) {
              std::uint64_t dim;
              if (!r.ReadUint(&dim) || dim > kMaxBlockRawBytes ||
                  (spec.shape[d] != -1 && dim != static_cast<std::uint64_t>(spec.shape[d]))) {
                return Bad(where, s, spec, "bad dimension " + std::to_string(d));
              }
              elements *= dim;
              if (elements > kMaxBlockRawBytes) return Bad(where, s, spec, "tensor too large");
              parts.shape_pool.push_back(static_cast<std::int64_t>(dim));
            }
            if (!r.ReadBin(&off, &len)) return Bad(where, s, spec, "expected tensor bin");
            if (len != elements * DTypeSize(spec.dtype)) {
              return Bad(where, s, spec,
                         "tensor of " + std::to_string(len) + " bytes, dims need " +
                             std::to_string(elements * DTypeSize(spec.dtype)));
            }
          }
          slot->word = off;
          slot->length = len;
          break;
        }
      }
    }
  }
  if (!r.at_end()) {
    return Status::Corruption(std::string(where) + ": " + std::to_string(r.remaining()) +
                              " trailing bytes after " + std::to_string(n) + " samples");
  }
  parts.num_samples = n;
  return Status::OK();
}

}  // namespace internal
}  // namespace shardmesh::loader
