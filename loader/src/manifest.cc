#include "shardmesh/loader/manifest.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "shardmesh/common/file.h"

namespace shardmesh::loader {
namespace {

using nlohmann::json;

std::string Hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

bool ParseHex64(const std::string& s, std::uint64_t* out) {
  if (s.empty() || s.size() > 16) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  *out = v;
  return true;
}

json SchemaJson(const Schema& schema) {
  json fields = json::array();
  for (const FieldSpec& f : schema.fields()) {
    json jf = {{"name", f.name}, {"type", std::string(FieldTypeName(f.type))}};
    if (f.type == FieldType::kTensor) {
      jf["dtype"] = std::string(DTypeName(f.dtype));
      jf["shape"] = f.shape;
    }
    fields.push_back(std::move(jf));
  }
  json j = {{"fields", std::move(fields)}};
  const auto label = schema.label_field();
  j["label_field"] = label ? json(*label) : json(nullptr);
  return j;
}

// Typed getters that throw a message naming the key; caught at Parse's edge.
struct Bad {
  std::string message;
};
const json& Get(const json& j, const char* key, const std::string& ctx) {
  if (!j.is_object()) throw Bad{ctx + " is not an object"};
  auto it = j.find(key);
  if (it == j.end()) throw Bad{ctx + ": missing \"" + key + "\""};
  return *it;
}
std::uint64_t GetU64(const json& j, const char* key, const std::string& ctx) {
  const json& v = Get(j, key, ctx);
  if (!v.is_number_unsigned()) throw Bad{ctx + ": \"" + key + "\" is not a non-negative integer"};
  return v.get<std::uint64_t>();
}
std::string GetString(const json& j, const char* key, const std::string& ctx) {
  const json& v = Get(j, key, ctx);
  if (!v.is_string()) throw Bad{ctx + ": \"" + key + "\" is not a string"};
  return v.get<std::string>();
}
std::uint64_t GetHex(const json& j, const char* key, const std::string& ctx) {
  std::uint64_t v;
  if (!ParseHex64(GetString(j, key, ctx), &v)) throw Bad{ctx + ": \"" + key + "\" is not hex"};
  return v;
}

Result<Schema> ParseSchema(const json& j) {
  const json& fields = Get(j, "fields", "schema");
  if (!fields.is_array()) throw Bad{"schema: \"fields\" is not an array"};
  std::vector<FieldSpec> specs;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::string ctx = "schema field " + std::to_string(i);
    const json& jf = fields[i];
    FieldSpec f;
    f.name = GetString(jf, "name", ctx);
    const std::string type = GetString(jf, "type", ctx);
    const auto t = ParseFieldType(type);
    if (!t) throw Bad{ctx + ": unknown type \"" + type + "\""};
    f.type = *t;
    if (f.type == FieldType::kTensor) {
      const std::string dtype = GetString(jf, "dtype", ctx);
      const auto d = ParseDType(dtype);
      if (!d) throw Bad{ctx + ": unknown dtype \"" + dtype + "\""};
      f.dtype = *d;
      const json& shape = Get(jf, "shape", ctx);
      if (!shape.is_array()) throw Bad{ctx + ": \"shape\" is not an array"};
      for (const json& dim : shape) {
        if (!dim.is_number_integer()) throw Bad{ctx + ": shape holds a non-integer"};
        f.shape.push_back(dim.get<std::int64_t>());
      }
    }
    specs.push_back(std::move(f));
  }
  std::optional<std::string> label;
  if (auto it = j.find("label_field"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) throw Bad{"schema: \"label_field\" is not a string"};
    label = it->get<std::string>();
  }
  return Schema::Create(std::move(specs), std::move(label));
}

}  // namespace

std::string SchemaToJson(const Schema& schema) { return SchemaJson(schema).dump(); }

Result<Manifest> Manifest::Parse(std::string_view text, std::string_view where) {
  const std::string w(where);
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corruption(w + ": not valid JSON");
  try {
    if (!j.is_object()) throw Bad{"not a JSON object"};
    auto format = j.find("format");
    if (format == j.end() || !format->is_string() || *format != kManifestFormat) {
      return Status::Corruption(w + ": not a shardmesh dataset manifest (format is not \"" +
                                std::string(kManifestFormat) + "\")");
    }
    auto version = j.find("version");
    if (version == j.end() || !version->is_number_integer() ||
        version->get<std::int64_t>() != kManifestVersion) {
      return Status::Corruption(w + ": unsupported manifest version " +
                                (version == j.end() ? std::string("(missing)") : version->dump()) +
                                " (this reader knows " + std::to_string(kManifestVersion) + ")");
    }
    Manifest m;
    auto schema = ParseSchema(Get(j, "schema", "manifest"));
    if (!schema.ok()) return Status::Corruption(w + ": " + schema.status().message());
    m.schema = std::move(schema).value();
    m.num_samples = GetU64(j, "num_samples", "manifest");
    const json& shards = Get(j, "shards", "manifest");
    if (!shards.is_array()) throw Bad{"\"shards\" is not an array"};
    std::uint64_t next = 0;
    std::set<std::string> files;
    for (std::size_t i = 0; i < shards.size(); ++i) {
      const std::string ctx = "shard " + std::to_string(i);
      const json& js = shards[i];
      ShardEntry e;
      e.file = GetString(js, "file", ctx);
      if (e.file.empty() || e.file.find('/') != std::string::npos || e.file == "." ||
          e.file == "..") {
        throw Bad{ctx + ": file name \"" + e.file + "\" must be a plain name in the directory"};
      }
      // The same file twice would deliver its samples twice under two sets of indices.
      if (!files.insert(e.file).second) throw Bad{ctx + ": file " + e.file + " is listed twice"};
      e.num_samples = GetU64(js, "num_samples", ctx);
      e.first_sample = GetU64(js, "first_sample", ctx);
      e.num_blocks = GetU64(js, "num_blocks", ctx);
      e.bytes = GetU64(js, "bytes", ctx);
      e.footer_checksum = GetHex(js, "footer_checksum", ctx);
      e.file_checksum = GetHex(js, "file_checksum", ctx);
      if (e.first_sample != next) {
        throw Bad{ctx + " (" + e.file + "): first_sample " + std::to_string(e.first_sample) +
                  ", expected " + std::to_string(next)};
      }
      next += e.num_samples;
      m.shards.push_back(std::move(e));
    }
    if (next != m.num_samples) {
      throw Bad{"shards hold " + std::to_string(next) + " samples, num_samples is " +
                std::to_string(m.num_samples)};
    }
    if (auto it = j.find("label_histogram"); it != j.end() && !it->is_null()) {
      if (!it->is_object()) throw Bad{"\"label_histogram\" is not an object"};
      for (const auto& [key, count] : it->items()) {
        char* end = nullptr;
        errno = 0;
        const long long label = std::strtoll(key.c_str(), &end, 10);
        if (key.empty() || *end != '\0' || errno != 0 || !count.is_number_unsigned()) {
          throw Bad{"label_histogram entry \"" + key + "\" is malformed"};
        }
        m.label_histogram[label] = count.get<std::uint64_t>();
      }
    }
    return m;
  } catch (const Bad& e) {
    return Status::Corruption(w + ": " + e.message);
  } catch (const json::exception& e) {
    return Status::Corruption(w + ": " + e.what());
  }
}

Result<Manifest> Manifest::Load(const std::string& dir) {
  const std::string path = dir + "/" + std::string(kManifestFileName);
  SHARDMESH_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return Parse(text, path);
}

std::string Manifest::Serialize() const {
  json shard_list = json::array();
  for (const ShardEntry& e : shards) {
    shard_list.push_back({{"file", e.file},
                          {"num_samples", e.num_samples},
                          {"first_sample", e.first_sample},
                          {"num_blocks", e.num_blocks},
                          {"bytes", e.bytes},
                          {"footer_checksum", Hex64(e.footer_checksum)},
                          {"file_checksum", Hex64(e.file_checksum)}});
  }
  json histogram = json::object();
  for (const auto& [label, count] : label_histogram) histogram[std::to_string(label)] = count;
  json j = {{"format", std::string(kManifestFormat)}, {"version", kManifestVersion},
            {"schema", SchemaJson(schema)},           {"num_samples", num_samples},
            {"shards", std::move(shard_list)},        {"label_histogram", std::move(histogram)}};
  return j.dump(2) + "\n";
}

Status Manifest::Store(const std::string& dir) const {
  return WriteFileAtomically(dir + "/" + std::string(kManifestFileName), Serialize());
}

}  // namespace shardmesh::loader
