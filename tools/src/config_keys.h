// ConfigKeys: one table of named settings that can be given, in increasing precedence, by a
// TOML file, by environment variables (SHARDMESH_<KEY in upper case>) and by command-line flags
// of the same name (--<key>). Each key binds to a field of a config struct and parses its own
// type; errors name the key and where the bad value came from.
//
// Thread-safety: build and apply on one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "shardmesh/common/status.h"

namespace shardmesh::tools {

// Parses "250ms", "2s", "1m", "1500us" or a bare integer (milliseconds).
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

class ConfigKeys {
 public:
  explicit ConfigKeys(std::string env_prefix = "SHARDMESH_") : env_prefix_(std::move(env_prefix)) {}

  void AddString(std::string key, std::string* field, std::string help);
  void AddInt(std::string key, std::int64_t* field, std::string help);
  void AddDouble(std::string key, double* field, std::string help);
  void AddBool(std::string key, bool* field, std::string help);
  void AddDuration(std::string key, std::chrono::milliseconds* field, std::string help);
  // A list: a TOML array of strings, or a comma-separated string (env, flag).
  void AddList(std::string key, std::vector<std::string>* field, std::string help);

  // Adds one --<key> option per key to `app`; values are kept until Apply.
  void AddFlags(CLI::App& app);

  // Applies, in order: the TOML file (if `toml_path` is not empty), the environment, the flags
  // given on the command line. An empty value in the environment or a flag counts as unset. InvalidArgument names the key and the source on a bad value or
  // an unknown key in the file; NotFound/InvalidArgument for a missing or unparsable file.
  Status Apply(const std::string& toml_path);

  // Applies one value from a named source ("file.toml", "env SHARDMESH_X", "--x").
  Status Set(std::string_view key, std::string_view value, std::string_view source);

  // Applies a value given as separate items (a TOML array, a Python list): InvalidArgument
  // naming the key when it is not a list key (joined, the items would pass for a string such
  // as "a,b"; `kind` names the value in that message: "an array") or an item holds a ','.
  Status SetItems(std::string_view key, const std::vector<std::string>& items,
                  std::string_view source, std::string_view kind);

  // Where `key`'s value came from: the source given to the last successful Set ("w1.toml",
  // "environment SHARDMESH_VNODES", "--vnodes"), or "" for the default.
  std::string SourceOf(std::string_view key) const;

  // Environment variables with the prefix that name no key (typos), seen by the last Apply.
  const std::vector<std::string>& unknown_env() const { return unknown_env_; }

  // Applies a TOML document given as text (used by Apply and by tests).
  Status ApplyToml(std::string_view toml_text, std::string_view source);

  // Markdown table of every key, its type, default and help: the config reference in README.
  std::string Reference() const;

  // The environment variable name for `key`.
  std::string EnvName(std::string_view key) const;

 private:
  struct Key {
    std::string name;
    std::string type;
    std::string help;
    std::string default_text;
    std::function<Status(std::string_view)> parse;
  };
  void Add(std::string name, std::string type, std::string help, std::string default_text,
           std::function<Status(std::string_view)> parse);

  std::string env_prefix_;
  std::vector<Key> keys_;
  std::map<std::string, std::string> flag_values_;  // filled by CLI11
  std::map<std::string, std::string, std::less<>> sources_;  // key -> source of its value
  std::vector<std::string> unknown_env_;
};

}  // namespace shardmesh::tools
