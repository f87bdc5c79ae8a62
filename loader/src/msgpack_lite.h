// A minimal msgpack writer and a bounds-checked reader for the fixed layouts of blocks and
// footers. Hand-written because the block parser is the hot path of every epoch: reading
// positional values straight into a slot table beats building msgpack-cxx object trees, and it
// cannot throw. Output is standard msgpack (msgpack-cxx reads it; tests check that).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace shardmesh::loader::mp {

// ---- writer: appends to a byte vector ----

inline void PutBE(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
  const std::size_t at = out.size();
  out.resize(at + static_cast<std::size_t>(bytes));
  for (int i = bytes - 1; i >= 0; --i) {
    out[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

inline void WriteArrayHeader(std::vector<std::uint8_t>& out, std::uint32_t n) {
  if (n < 16) {
    out.push_back(static_cast<std::uint8_t>(0x90 | n));
  } else if (n <= 0xffff) {
    out.push_back(0xdc);
    PutBE(out, n, 2);
  } else {
    out.push_back(0xdd);
    PutBE(out, n, 4);
  }
}

inline void WriteUint(std::vector<std::uint8_t>& out, std::uint64_t v) {
  if (v < 128) {
    out.push_back(static_cast<std::uint8_t>(v));
  } else if (v <= 0xff) {
    out.push_back(0xcc);
    PutBE(out, v, 1);
  } else if (v <= 0xffff) {
    out.push_back(0xcd);
    PutBE(out, v, 2);
  } else if (v <= 0xffffffffULL) {
    out.push_back(0xce);
    PutBE(out, v, 4);
  } else {
    out.push_back(0xcf);
    PutBE(out, v, 8);
  }
}

inline void WriteInt(std::vector<std::uint8_t>& out, std::int64_t v) {
  if (v >= 0) return WriteUint(out, static_cast<std::uint64_t>(v));
  if (v >= -32) {
    out.push_back(static_cast<std::uint8_t>(v));
  } else if (v >= -128) {
    out.push_back(0xd0);
    PutBE(out, static_cast<std::uint64_t>(v), 1);
  } else if (v >= -32768) {
    out.push_back(0xd1);
    PutBE(out, static_cast<std::uint64_t>(v), 2);
  } else if (v >= -2147483648LL) {
    out.push_back(0xd2);
    PutBE(out, static_cast<std::uint64_t>(v), 4);
  } else {
    out.push_back(0xd3);
    PutBE(out, static_cast<std::uint64_t>(v), 8);
  }
}

inline void WriteFloat64(std::vector<std::uint8_t>& out, double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  out.push_back(0xcb);
  PutBE(out, bits, 8);
}

inline void WriteRaw(std::vector<std::uint8_t>& out, const void* data, std::size_t n) {
  if (n == 0) return;
  const std::size_t at = out.size();
  out.resize(at + n);
  std::memcpy(out.data() + at, data, n);
}

inline void WriteStr(std::vector<std::uint8_t>& out, std::string_view s) {
  const auto n = static_cast<std::uint32_t>(s.size());
  if (n < 32) {
    out.push_back(static_cast<std::uint8_t>(0xa0 | n));
  } else if (n <= 0xff) {
    out.push_back(0xd9);
    PutBE(out, n, 1);
  } else if (n <= 0xffff) {
    out.push_back(0xda);
    PutBE(out, n, 2);
  } else {
    out.push_back(0xdb);
    PutBE(out, n, 4);
  }
  WriteRaw(out, s.data(), s.size());
}

inline void WriteBin(std::vector<std::uint8_t>& out, const void* data, std::size_t size) {
  const auto n = static_cast<std::uint32_t>(size);
  if (n <= 0xff) {
    out.push_back(0xc4);
    PutBE(out, n, 1);
  } else if (n <= 0xffff) {
    out.push_back(0xc5);
    PutBE(out, n, 2);
  } else {
    out.push_back(0xc6);
    PutBE(out, n, 4);
  }
  WriteRaw(out, data, size);
}

// ---- reader: a cursor over a byte range; every Read* returns false (and leaves the cursor
// unspecified) when the next value is not of the asked kind or runs past the end ----

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : base_(data), p_(data), end_(data + size) {}

  std::size_t offset() const { return static_cast<std::size_t>(p_ - base_); }
  bool at_end() const { return p_ == end_; }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }

  bool ReadArrayHeader(std::uint32_t* n) {
    if (p_ == end_) return false;
    const std::uint8_t t = *p_;
    if ((t & 0xf0) == 0x90) {
      ++p_;
      *n = t & 0x0f;
      return true;
    }
    std::uint64_t v;
    if (t == 0xdc) return Fixed(2, &v) && (*n = static_cast<std::uint32_t>(v), true);
    if (t == 0xdd) return Fixed(4, &v) && (*n = static_cast<std::uint32_t>(v), true);
    return false;
  }

  // Any msgpack integer that fits in int64.
  bool ReadInt(std::int64_t* out) {
    if (p_ == end_) return false;
    const std::uint8_t t = *p_;
    if (t < 0x80) {
      ++p_;
      *out = t;
      return true;
    }
    if (t >= 0xe0) {
      ++p_;
      *out = static_cast<std::int8_t>(t);
      return true;
    }
    std::uint64_t v;
    switch (t) {
      case 0xcc:
        if (!Fixed(1, &v)) return false;
        *out = static_cast<std::int64_t>(v);
        return true;
      case 0xcd:
        if (!Fixed(2, &v)) return false;
        *out = static_cast<std::int64_t>(v);
        return true;
      case 0xce:
        if (!Fixed(4, &v)) return false;
        *out = static_cast<std::int64_t>(v);
        return true;
      case 0xcf:
        if (!Fixed(8, &v) || v > static_cast<std::uint64_t>(INT64_MAX)) return false;
        *out = static_cast<std::int64_t>(v);
        return true;
      case 0xd0:
        if (!Fixed(1, &v)) return false;
        *out = static_cast<std::int8_t>(v);
        return true;
      case 0xd1:
        if (!Fixed(2, &v)) return false;
        *out = static_cast<std::int16_t>(v);
        return true;
      case 0xd2:
        if (!Fixed(4, &v)) return false;
        *out = static_cast<std::int32_t>(v);
        return true;
      case 0xd3:
        if (!Fixed(8, &v)) return false;
        *out = static_cast<std::int64_t>(v);
        return true;
      default:
        return false;
    }
  }

  // Any non-negative msgpack integer.
  bool ReadUint(std::uint64_t* out) {
    if (p_ == end_) return false;
    const std::uint8_t t = *p_;
    if (t < 0x80) {
      ++p_;
      *out = t;
      return true;
    }
    if (t == 0xcf) return Fixed(8, out);
    std::int64_t v;
    if (!ReadInt(&v) || v < 0) return false;
    *out = static_cast<std::uint64_t>(v);
    return true;
  }

  // float 64, or float 32 widened.
  bool ReadFloat64(double* out) {
    if (p_ == end_) return false;
    std::uint64_t v;
    if (*p_ == 0xcb) {
      if (!Fixed(8, &v)) return false;
      std::memcpy(out, &v, sizeof *out);
      return true;
    }
    if (*p_ == 0xca) {
      if (!Fixed(4, &v)) return false;
      const auto bits = static_cast<std::uint32_t>(v);
      float f;
      std::memcpy(&f, &bits, sizeof f);
      *out = f;
      return true;
    }
    return false;
  }

  // A str; `*offset` is the payload's offset from the start of the range.
  bool ReadStr(std::uint32_t* offset, std::uint32_t* length) {
    if (p_ == end_) return false;
    const std::uint8_t t = *p_;
    std::uint64_t n;
    if ((t & 0xe0) == 0xa0) {
      ++p_;
      n = t & 0x1f;
    } else if (t == 0xd9) {
      if (!Fixed(1, &n)) return false;
    } else if (t == 0xda) {
      if (!Fixed(2, &n)) return false;
    } else if (t == 0xdb) {
      if (!Fixed(4, &n)) return false;
    } else {
      return false;
    }
    return Payload(n, offset, length);
  }

  bool ReadBin(std::uint32_t* offset, std::uint32_t* length) {
    if (p_ == end_) return false;
    const std::uint8_t t = *p_;
    std::uint64_t n;
    if (t == 0xc4) {
      if (!Fixed(1, &n)) return false;
    } else if (t == 0xc5) {
      if (!Fixed(2, &n)) return false;
    } else if (t == 0xc6) {
      if (!Fixed(4, &n)) return false;
    } else {
      return false;
    }
    return Payload(n, offset, length);
  }

 private:
  // Skips the type byte and reads a `bytes`-wide big-endian number.
  bool Fixed(int bytes, std::uint64_t* out) {
    if (remaining() < static_cast<std::size_t>(bytes) + 1) return false;
    ++p_;
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p_[i];
    p_ += bytes;
    *out = v;
    return true;
  }
  bool Payload(std::uint64_t n, std::uint32_t* payload_offset, std::uint32_t* length) {
    if (n > remaining() || offset() > 0xffffffffULL) return false;
    *payload_offset = static_cast<std::uint32_t>(offset());
    *length = static_cast<std::uint32_t>(n);
    p_ += n;
    return true;
  }

  const std::uint8_t* base_;
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

}  // namespace shardmesh::loader::mp
