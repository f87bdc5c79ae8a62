// Registration of the CLI's subcommands. Each Register* adds one subcommand whose callback
// runs the command and stores its exit code (read back by ExitCode()).
#pragma once

#include <CLI/CLI.hpp>

namespace shardmesh::tools {

void RegisterCommands(CLI::App& app);

// Exit code of the subcommand that ran (0 on success).
int ExitCode();
void SetExitCode(int code);

}  // namespace shardmesh::tools
