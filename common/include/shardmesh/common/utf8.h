// UTF-8 checks for names that end up in JSON documents (manifests, catalogs) and in error
// messages raised as Python exceptions: both reject invalid UTF-8 (nlohmann::json::dump
// throws, Python's str cannot hold it), so such text is refused or escaped where it enters.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace shardmesh {

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF).
bool IsValidUtf8(std::string_view text);

// `text` with every byte that is not part of a well-formed UTF-8 sequence written as \xNN.
std::string EscapeInvalidUtf8(std::string_view text);

}  // namespace shardmesh
