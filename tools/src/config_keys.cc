#include "config_keys.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <sstream>

#include <toml++/toml.h>

#include "shardmesh/common/file.h"

namespace shardmesh::tools {
namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  const std::string t = Trim(text);
  const char* end = t.data() + t.size();
  auto [ptr, ec] = std::from_chars(t.data(), end, *out);
  return ec == std::errc() && ptr == end && !t.empty();
}

// TOML values become text so that one parser per type serves files, env and flags alike.
Result<std::string> TomlToText(const toml::node& node, std::string_view key) {
  if (auto s = node.as_string()) return std::string(s->get());
  if (auto i = node.as_integer()) return std::to_string(i->get());
  if (auto f = node.as_floating_point()) {
    std::ostringstream os;
    os.precision(17);
    os << f->get();
    return os.str();
  }
  if (auto b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  return Status::InvalidArgument("key '" + std::string(key) + "': unsupported TOML value type");
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const std::string t = Trim(text);
  std::size_t digits = 0;
  while (digits < t.size() && (std::isdigit(static_cast<unsigned char>(t[digits])) || t[digits] == '.'))
    ++digits;
  double value = 0;
  if (digits == 0 || !ParseNumber(std::string_view(t).substr(0, digits), &value))
    return Status::InvalidArgument("'" + t + "' is not a duration (e.g. 250ms, 2s, 1m)");
  const std::string unit = t.substr(digits);
  double ms = 0;
  if (unit.empty() || unit == "ms") ms = value;
  else if (unit == "us") ms = value / 1000.0;
  else if (unit == "s") ms = value * 1000.0;
  else if (unit == "m") ms = value * 60'000.0;
  else return Status::InvalidArgument("'" + t + "': unknown duration unit '" + unit + "' (us, ms, s, m)");
  if (!(ms < 1e15))  // about 31,700 years: anything longer is a typo, and would overflow
    return Status::InvalidArgument("'" + t + "' is too long a duration");
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms + 0.5));
}

void ConfigKeys::Add(std::string name, std::string type, std::string help, std::string default_text,
                     std::function<Status(std::string_view)> parse) {
  keys_.push_back({std::move(name), std::move(type), std::move(help), std::move(default_text),
                   std::move(parse)});
}

void ConfigKeys::AddString(std::string key, std::string* field, std::string help) {
  Add(std::move(key), "string", std::move(help), *field, [field](std::string_view v) {
    *field = std::string(v);
    return Status::OK();
  });
}

void ConfigKeys::AddInt(std::string key, std::int64_t* field, std::string help) {
  Add(key, "integer", std::move(help), std::to_string(*field), [field, key](std::string_view v) {
    std::int64_t x = 0;
    if (!ParseNumber(v, &x)) return Status::InvalidArgument("'" + std::string(v) + "' is not an integer");
    *field = x;
    return Status::OK();
  });
}

void ConfigKeys::AddDouble(std::string key, double* field, std::string help) {
  std::ostringstream os;
  os << *field;
  Add(key, "number", std::move(help), os.str(), [field](std::string_view v) {
    double x = 0;
    if (!ParseNumber(v, &x)) return Status::InvalidArgument("'" + std::string(v) + "' is not a number");
    *field = x;
    return Status::OK();
  });
}

void ConfigKeys::AddBool(std::string key, bool* field, std::string help) {
  Add(key, "bool", std::move(help), *field ? "true" : "false", [field](std::string_view v) {
    const std::string t = Trim(v);
    if (t == "true" || t == "1" || t == "yes") *field = true;
    else if (t == "false" || t == "0" || t == "no") *field = false;
    else return Status::InvalidArgument("'" + t + "' is not a bool (true/false)");
    return Status::OK();
  });
}

void ConfigKeys::AddDuration(std::string key, std::chrono::milliseconds* field, std::string help) {
  Add(key, "duration", std::move(help), std::to_string(field->count()) + "ms",
      [field](std::string_view v) {
        SHARDMESH_ASSIGN_OR_RETURN(*field, ParseDuration(v));
        return Status::OK();
      });
}

void ConfigKeys::AddList(std::string key, std::vector<std::string>* field, std::string help) {
  std::string def;
  for (const auto& s : *field) def += (def.empty() ? "" : ",") + s;
  Add(key, "list", std::move(help), def, [field](std::string_view v) {
    field->clear();
    std::string_view rest = v;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string item = Trim(rest.substr(0, comma));
      if (!item.empty()) field->push_back(item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return Status::OK();
  });
}

void ConfigKeys::AddFlags(CLI::App& app) {
  for (const auto& k : keys_) {
    app.add_option("--" + k.name, flag_values_[k.name],
                   k.help + " [" + k.type +
                       (k.default_text.empty() ? "" : ", default " + k.default_text) + "]");
  }
}

std::string ConfigKeys::EnvName(std::string_view key) const {
  std::string env = env_prefix_;
  for (char c : key) env += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

Status ConfigKeys::SetItems(std::string_view key, const std::vector<std::string>& items,
                            std::string_view source, std::string_view kind) {
  const auto spec = std::find_if(keys_.begin(), keys_.end(),
                                 [&](const Key& k) { return k.name == key; });
  const std::string where = std::string(source) + ": key '" + std::string(key) + "'";
  if (spec != keys_.end() && spec->type != "list") {
    return Status::InvalidArgument(where + ": expected a " + spec->type + ", got " +
                                   std::string(kind));
  }
  std::string joined;
  for (const std::string& item : items) {
    if (item.find(',') != std::string::npos) {
      return Status::InvalidArgument(where + ": list item contains ','");
    }
    joined += (joined.empty() ? "" : ",") + item;
  }
  return Set(key, joined, source);  // an unknown key is named there
}

Status ConfigKeys::Set(std::string_view key, std::string_view value, std::string_view source) {
  for (const auto& k : keys_) {
    if (k.name == key) {
      SHARDMESH_RETURN_IF_ERROR(
          k.parse(value).WithContext(std::string(source) + ": key '" + k.name + "'"));
      sources_[k.name] = std::string(source);
      return Status::OK();
    }
  }
  return Status::InvalidArgument(std::string(source) + ": unknown key '" + std::string(key) + "'");
}

Status ConfigKeys::ApplyToml(std::string_view toml_text, std::string_view source) {
#if TOML_EXCEPTIONS
  toml::table table;
  try {
    table = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source << ":" << e.source().begin.line << ": " << e.description();
    return Status::InvalidArgument(os.str());
  }
#else
  toml::parse_result parsed = toml::parse(toml_text, source);
  if (!parsed) {
    std::ostringstream os;
    os << source << ":" << parsed.error().source().begin.line << ": " << parsed.error().description();
    return Status::InvalidArgument(os.str());
  }
  toml::table table = std::move(parsed).table();
#endif
  for (const auto& [key, node] : table) {
    const std::string k(key.str());
    if (const toml::array* array = node.as_array()) {
      std::vector<std::string> items;
      for (const auto& item : *array) {
        const auto* text = item.as_string();
        if (text == nullptr) {
          return Status::InvalidArgument(std::string(source) + ": key '" + k +
                                         "': list items must be strings");
        }
        items.push_back(text->get());
      }
      SHARDMESH_RETURN_IF_ERROR(SetItems(k, items, source, "an array"));
      continue;
    }
    auto text = TomlToText(node, k);
    if (!text.ok()) return text.status().WithContext(std::string(source));
    SHARDMESH_RETURN_IF_ERROR(Set(k, *text, source));
  }
  return Status::OK();
}

Status ConfigKeys::Apply(const std::string& toml_path) {
  if (!toml_path.empty()) {
    SHARDMESH_ASSIGN_OR_RETURN(std::string text, ReadFileToString(toml_path));
    SHARDMESH_RETURN_IF_ERROR(ApplyToml(text, toml_path));
  }
  for (const auto& k : keys_) {
    const std::string env = EnvName(k.name);
    if (const char* v = std::getenv(env.c_str()); v != nullptr && *v != '\0') {
      SHARDMESH_RETURN_IF_ERROR(Set(k.name, v, "environment " + env));
    }
  }
  unknown_env_.clear();
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view var(*e);
    const std::string_view name = var.substr(0, var.find('='));
    if (name.rfind(env_prefix_, 0) != 0) continue;
    const bool known = std::any_of(keys_.begin(), keys_.end(),
                                   [&](const Key& k) { return EnvName(k.name) == name; });
    if (!known) unknown_env_.emplace_back(name);
  }
  for (const auto& k : keys_) {
    const auto it = flag_values_.find(k.name);
    if (it != flag_values_.end() && !it->second.empty()) {
      SHARDMESH_RETURN_IF_ERROR(Set(k.name, it->second, "--" + k.name));
    }
  }
  return Status::OK();
}

std::string ConfigKeys::SourceOf(std::string_view key) const {
  const auto it = sources_.find(key);
  return it == sources_.end() ? std::string() : it->second;
}

std::string ConfigKeys::Reference() const {
  std::string out = "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& k : keys_) {
    out += "| `" + k.name + "` | " + k.type + " | `" + k.default_text + "` | " + k.help + " |\n";
  }
  return out;
}

}  // namespace shardmesh::tools
