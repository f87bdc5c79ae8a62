#include "commands.h"

namespace shardmesh::tools {

// One line per subcommand; each is defined in its own <name>_command.cc.
void RegisterGen(CLI::App& app);
void RegisterPack(CLI::App& app);
void RegisterInspect(CLI::App& app);
void RegisterRead(CLI::App& app);
void RegisterKeygen(CLI::App& app);
void RegisterWorker(CLI::App& app);
void RegisterStatus(CLI::App& app);

namespace {
int g_exit_code = 0;
}  // namespace

void RegisterCommands(CLI::App& app) {
  RegisterGen(app);
  RegisterPack(app);
  RegisterInspect(app);
  RegisterRead(app);
  RegisterKeygen(app);
  RegisterWorker(app);
  RegisterStatus(app);
}

int ExitCode() { return g_exit_code; }
void SetExitCode(int code) { g_exit_code = code; }

}  // namespace shardmesh::tools
