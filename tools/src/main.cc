// shardmesh: the command-line tool. Each subcommand lives in its own <name>_command.cc and
// registers itself here.
#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"shardmesh: a brokerless, deterministic, fault-tolerant data loader"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "shardmesh 0.1.0");
  shardmesh::tools::RegisterCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as the README's rule says
    // (CLI11's own codes, 100-120, would mean nothing to a caller).
    return app.exit(e) == 0 ? 0 : 2;
  }
  return shardmesh::tools::ExitCode();
}
