// Registration of the CLI's subcommands. Each Register* adds one subcommand whose callback
// runs the command and stores its exit code (read back by ExitCode()).
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace shardmesh::tools {

void RegisterCommands(CLI::App& app);

// The transform for every unsigned numeric option: a decimal integer within 64 bits, written
// back without leading zeros. CLI11 2.1 reads them with strtoull(.., 0), so "-5" became
// 2^64 - 5 (gen --samples -5 wrote until the disk was full), "010" was octal 8, "0x10" hex, and
// a value past 2^64 - 1 was clamped to it. Narrower targets are range-checked by CLI11 itself.
inline CLI::Validator UnsignedDecimal() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        const auto first = value.find_first_not_of(" \t");
        if (first == std::string::npos) return "expected a decimal integer, got '" + value + "'";
        std::string_view v(value);
        v = v.substr(first, value.find_last_not_of(" \t") - first + 1);
        if (v.front() == '-') return "must not be negative, got " + value;
        if (v.front() == '+') v.remove_prefix(1);
        if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos) {
          return "expected a decimal integer, got '" + value + "'";
        }
        std::uint64_t n = 0;
        if (std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc()) {
          return "out of range (at most 18446744073709551615), got " + value;
        }
        value = std::to_string(n);
        return {};
      },
      "", "UnsignedDecimal");
}

// --block-kib's bound: the writer's largest target block (512 MiB), in KiB.
inline constexpr std::size_t kMaxBlockKib = 512 * 1024;

// Exit code of the subcommand that ran (0 on success).
int ExitCode();
void SetExitCode(int code);

}  // namespace shardmesh::tools
