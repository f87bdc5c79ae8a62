// Registration of the CLI's subcommands. Each Register* adds one subcommand whose callback
// runs the command and stores its exit code (read back by ExitCode()).
#pragma once

#include <CLI/CLI.hpp>

namespace shardmesh::tools {

void RegisterCommands(CLI::App& app);

// The check for every unsigned numeric option: CLI11 2.1 turns "-5" into 2^64 - 5 for a
// 64-bit one (gen --samples -5 then writes until the disk is full).
inline CLI::Validator NotNegative() {
  return CLI::Validator(
      [](std::string& value) {
        const auto first = value.find_first_not_of(" \t");
        return first != std::string::npos && value[first] == '-'
                   ? "must not be negative, got " + value
                   : std::string();
      },
      "", "NotNegative");
}

// --block-kib's bound: the writer's largest target block (512 MiB), in KiB.
inline constexpr std::size_t kMaxBlockKib = 512 * 1024;

// Exit code of the subcommand that ran (0 on success).
int ExitCode();
void SetExitCode(int code);

}  // namespace shardmesh::tools
