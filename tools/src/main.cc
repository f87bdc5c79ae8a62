// shardmesh: the command-line tool. Each subcommand lives in its own <name>_command.cc and
// registers itself here.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"shardmesh: a brokerless, deterministic, fault-tolerant data loader"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "shardmesh 0.1.0");
  shardmesh::tools::RegisterCommands(app);
  // CLI11 says "A subcommand is required" for a misspelt one; name it and list the commands.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (CLI::App* sub : app.get_subcommands({})) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
      known = known || sub->check_name(argv[1]);
    }
    if (!known) {
      std::fprintf(stderr, "shardmesh: unknown command '%s' (commands: %s; see --help)\n", argv[1],
                   names.c_str());
      return 2;
    }
  }
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
