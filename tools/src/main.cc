// shardmesh: the command-line tool. Each subcommand lives in its own <name>_command.cc and
// registers itself here.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

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
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "shardmesh: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    // A bug, but a message and exit 1 rather than std::terminate's abort.
    std::fprintf(stderr, "shardmesh: internal error: %s\n", e.what());
    return 1;
  }
  // Output that never reached its destination (a full disk, a closed pipe) is a failure: the
  // ids or the JSON report would be silently cut short.
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "shardmesh: writing to standard output failed: %s\n",
                 std::strerror(errno != 0 ? errno : EIO));
    return 1;
  }
  return shardmesh::tools::ExitCode();
}
