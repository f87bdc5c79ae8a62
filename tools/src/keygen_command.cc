// `shardmesh keygen [--server] [--out FILE]`: prints or writes a CurveZMQ key pair as TOML
// lines ready to paste into a worker config. Without --server it is a member's own client key
// pair (curve_public / curve_secret; the public key also goes into every member's
// allowed_peers); with --server it is the mesh's shared server key pair
// (curve_server_public / curve_server_secret), generated once per mesh.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "commands.h"
#include "shardmesh/common/file.h"
#include "shardmesh/mesh/curve_keys.h"

namespace shardmesh::tools {
namespace {

struct KeygenArgs {
  std::string out;
  bool server = false;
  bool force = false;
};

std::string KeyPairToml(const mesh::CurveKeyPair& pair, bool server) {
  const std::string prefix = server ? "curve_server_" : "curve_";
  std::string text;
  if (server) {
    text += "# shardmesh mesh server key pair: the same two lines go into every member's config.\n";
  } else {
    text +=
        "# shardmesh member key pair: curve_public also goes into every member's "
        "allowed_peers.\n";
  }
  text += "# The secret key authenticates the mesh; keep it out of version control.\n";
  text += prefix + "public = \"" + pair.public_key + "\"\n";
  text += prefix + "secret = \"" + pair.secret_key + "\"\n";
  return text;
}

Status ErrnoError(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + std::strerror(errno));
}

// WriteFileAtomically makes files world-readable; a secret key must be owner-only from the
// moment it exists, so this writes a 0600 temporary file, fsyncs it and renames it into place.
Status WriteSecretFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-keygen";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = ErrnoError("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Status s = ErrnoError("cannot sync", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = ErrnoError("cannot rename to", path);
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::OK();
}

int RunKeygen(const KeygenArgs& args) {
  Result<mesh::CurveKeyPair> pair = mesh::GenerateCurveKeyPair();
  if (!pair.ok()) {
    std::fprintf(stderr, "keygen: %s\n", pair.status().ToString().c_str());
    return 1;
  }
  const std::string text = KeyPairToml(*pair, args.server);
  if (args.out.empty()) {
    if (args.force) {
      std::fprintf(stderr, "keygen: --force only applies with --out FILE\n");
      return 2;
    }
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  if (Status replaceable = CheckReplaceable(args.out); !replaceable.ok()) {
    std::fprintf(stderr, "keygen: %s\n", replaceable.message().c_str());
    return 2;
  }
  // A key file holds a secret key that may be the only copy: replacing it is never implicit.
  std::error_code ec;
  if (!args.force && std::filesystem::exists(args.out, ec)) {
    std::fprintf(stderr,
                 "keygen: %s already exists; pass --force to replace it (its secret key is then "
                 "lost)\n",
                 args.out.c_str());
    return 2;
  }
  Status written = WriteSecretFile(args.out, text);
  if (!written.ok()) {
    std::fprintf(stderr, "keygen: %s\n", written.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "keygen: wrote %s key pair to %s (public key %s)\n",
               args.server ? "server" : "member", args.out.c_str(), pair->public_key.c_str());
  return 0;
}

}  // namespace

void RegisterKeygen(CLI::App& app) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* cmd = app.add_subcommand(
      "keygen", "Generate a CurveZMQ key pair for the mesh (TOML, ready for a worker config)");
  cmd->add_option("--out", args->out, "Write to this file (mode 0600) instead of stdout");
  cmd->add_flag("--server", args->server,
                "Generate the mesh-wide server key pair (curve_server_public/secret)");
  cmd->add_flag("--force", args->force, "Replace an existing --out file (its keys are lost)");
  cmd->callback([args, cmd] {
    // `--out ""` (an unset variable in a script) would print the secret key to stdout.
    if (cmd->count("--out") > 0 && args->out.empty()) {
      std::fprintf(stderr, "keygen: --out: empty file name\n");
      SetExitCode(2);
      return;
    }
    SetExitCode(RunKeygen(*args));
  });
}

}  // namespace shardmesh::tools
