// SharedBytes: an immutable byte buffer whose storage may be shared with its producer (a
// received ZeroMQ message, a decompressed block, a string), so blocks and messages move
// between layers without copies.
//
// Thread-safety: immutable after construction; copies may be used from any thread (the owner
// is reference counted).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shardmesh {

using ByteView = std::span<const std::uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsChars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

class SharedBytes {
 public:
  SharedBytes() = default;
  // Views `view`, keeping `owner` alive as long as any copy of this SharedBytes lives.
  SharedBytes(std::shared_ptr<const void> owner, ByteView view)
      : owner_(std::move(owner)), view_(view) {}

  static SharedBytes Copy(ByteView data) {
    return FromVector(std::vector<std::uint8_t>(data.begin(), data.end()));
  }
  static SharedBytes FromVector(std::vector<std::uint8_t> v) {
    auto owner = std::make_shared<const std::vector<std::uint8_t>>(std::move(v));
    ByteView view(owner->data(), owner->size());
    return SharedBytes(std::move(owner), view);
  }
  static SharedBytes FromString(std::string s) {
    auto owner = std::make_shared<const std::string>(std::move(s));
    return SharedBytes(owner, AsBytes(*owner));
  }

  const std::uint8_t* data() const { return view_.data(); }
  std::size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  ByteView view() const { return view_; }
  std::string_view chars() const { return AsChars(view_); }
  // A view of [offset, offset+len) sharing the same owner; the range must be in bounds.
  SharedBytes Slice(std::size_t offset, std::size_t len) const {
    return SharedBytes(owner_, view_.subspan(offset, len));
  }

 private:
  std::shared_ptr<const void> owner_;
  ByteView view_;
};

}  // namespace shardmesh
