#include "shardmesh/common/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace shardmesh {
namespace {

TEST(Utf8Test, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9"));           // U+00E9
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));          // U+20AC
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));      // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF, the last code point
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));  // NUL is a character
}

TEST(Utf8Test, RejectsWhatJsonAndPythonReject) {
  EXPECT_FALSE(IsValidUtf8("caf\xE9"));           // Latin-1
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated sequence
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong, three bytes
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(Utf8Test, EscapesOnlyTheBadBytes) {
  EXPECT_EQ(EscapeInvalidUtf8("caf\xE9!"), "caf\\xE9!");
  EXPECT_EQ(EscapeInvalidUtf8("\xC3\xA9\xFF\xC3"), "\xC3\xA9\\xFF\\xC3");
  EXPECT_EQ(EscapeInvalidUtf8("ok"), "ok");
  EXPECT_TRUE(IsValidUtf8(EscapeInvalidUtf8("\xED\xA0\x80x")));
}

}  // namespace
}  // namespace shardmesh
