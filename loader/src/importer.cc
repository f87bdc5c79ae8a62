#include "shardmesh/loader/importer.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

#include "shardmesh/common/utf8.h"
#include "shardmesh/loader/dataset_writer.h"

namespace shardmesh::loader {
namespace {

using Json = nlohmann::ordered_json;

// The type names field_types takes, for a single value and for an array (JSONL).
constexpr std::string_view kScalarTypes[] = {"int64", "float64", "string"};
constexpr std::string_view kArrayTypes[] = {"float32", "float64", "int64", "int32",
                                            "int16",   "int8",    "uint32", "uint8"};
constexpr std::string_view kScalarTypesText = "int64, float64 or string";
constexpr std::string_view kArrayTypesText =
    "float32, float64, int64, int32, int16, int8, uint32 or uint8";

template <std::size_t N>
bool Contains(const std::string_view (&names)[N], std::string_view t) {
  return std::find(std::begin(names), std::end(names), t) != std::end(names);
}
bool IsScalarTypeName(std::string_view t) { return Contains(kScalarTypes, t); }
bool IsArrayTypeName(std::string_view t) { return Contains(kArrayTypes, t); }

// Deeper JSON is refused before anything walks it recursively (printing a value for an error
// message overflowed the stack at 100,000 levels).
constexpr int kMaxJsonDepth = 64;

// A value as it appears in an error message: at most 80 characters.
std::string Excerpt(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 80) {
    s.resize(77);
    s += "...";
  }
  return s;
}

// Per-record error with its line; turned into a Status at the module edge.
struct LineError {
  std::string message;
};

class Importer {
 public:
  explicit Importer(const ImportOptions& options) : o_(options) {}

  Result<Manifest> Run() {
    for (const auto& [name, type] : o_.field_types) {
      SHARDMESH_RETURN_IF_ERROR(CheckFieldTypeOverride(type).WithContext("field '" + name + "'"));
    }
    std::ifstream in(o_.input, std::ios::binary);
    if (!in) {
      std::error_code ec;
      return Status::NotFound("cannot open input " + o_.input);
    }
    std::string line;
    std::uint64_t line_no = 0;
    try {
      while (std::getline(in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (IsBlank(line)) continue;
        line_no_ = line_no;
        if (o_.format == ImportFormat::kJsonl) {
          SHARDMESH_RETURN_IF_ERROR(JsonLine(line));
        } else {
          SHARDMESH_RETURN_IF_ERROR(CsvLine(line));
        }
        if (o_.progress && line_no % 4096 == 0) o_.progress(line_no);
      }
    } catch (const LineError& e) {
      return Status::InvalidArgument(Where() + e.message);
    }
    if (in.bad()) return Status::IOError("read error on " + o_.input);
    if (!writer_) {
      return Status::InvalidArgument(o_.input + ": no records" +
                                     (o_.format == ImportFormat::kCsv && have_header_
                                          ? std::string(" after the header line")
                                          : std::string()));
    }
    if (o_.progress) o_.progress(line_no);
    return writer_->Finish();
  }

 private:
  static bool IsBlank(const std::string& s) {
    return s.find_first_not_of(" \t") == std::string::npos;
  }
  std::string Where() const { return o_.input + ":" + std::to_string(line_no_) + ": "; }
  [[noreturn]] void Fail(const std::string& field, const std::string& what) const {
    throw LineError{field.empty() ? what : "field '" + field + "': " + what};
  }

  // Applies o_.field_types to field `f` inferred from a scalar or (JSONL) an array value.
  void ApplyOverride(FieldSpec& f, bool array_value) const {
    auto it = o_.field_types.find(f.name);
    if (it == o_.field_types.end()) return;
    const std::string& t = it->second;
    if (array_value) {
      if (!IsArrayTypeName(t)) {
        Fail(f.name, "type '" + t + "' does not fit an array; arrays take " +
                         std::string(kArrayTypesText));
      }
      f.dtype = *ParseDType(t);
    } else {
      if (!IsScalarTypeName(t)) {
        Fail(f.name, "type '" + t + "' is a tensor dtype; a single value takes " +
                         std::string(kScalarTypesText));
      }
      f.type = *ParseFieldType(t);
    }
  }

  Status CreateWriter(std::vector<FieldSpec> fields) {
    for (const auto& entry : o_.field_types) {
      const bool known = std::any_of(fields.begin(), fields.end(),
                                     [&](const FieldSpec& f) { return f.name == entry.first; });
      if (!known) Fail(entry.first, "has a type override but is not in the first record");
    }
    auto schema = Schema::Create(std::move(fields), o_.label_field);
    if (!schema.ok()) {
      return Status::InvalidArgument(Where() + "inferred " + schema.status().message());
    }
    DatasetWriterOptions wo;
    wo.samples_per_shard = o_.samples_per_shard;
    wo.target_block_bytes = o_.block_bytes;
    wo.overwrite = o_.overwrite;
    SHARDMESH_ASSIGN_OR_RETURN(writer_, DatasetWriter::Create(o_.out_dir, *schema, wo));
    return Status::OK();
  }

  Status Commit() {
    Status s = writer_->EndSample();
    if (s.IsInvalidArgument()) return Status::InvalidArgument(Where() + s.message());
    return s;
  }

  // ---- JSON Lines ----

  static bool IsNumberArray(const Json& v) {
    if (!v.is_array() || v.empty()) return false;
    for (const Json& e : v) {
      if (!e.is_number()) return false;
    }
    return true;
  }

  // An array of JSON integers (the first record's decides the dtype; one beyond int64 is then a
  // range error, not a reason to store the column as floats).
  static bool IsIntegerArray(const Json& v) {
    for (const Json& e : v) {
      if (!e.is_number_integer()) return false;
    }
    return true;
  }

  // Integer element `e` of `f` within [lo, hi], or a line error naming the element.
  std::int64_t IntElement(const FieldSpec& f, const Json& v, std::size_t i, std::int64_t lo,
                          std::int64_t hi) const {
    const Json& e = v[i];
    if (!e.is_number_integer()) {
      Fail(f.name, "element " + std::to_string(i) + " (" + Excerpt(e) +
                       ") is not an integer, and " + std::string(DTypeName(f.dtype)) +
                       " takes only integers" +
                       (f.dtype == DType::kInt64 && !o_.field_types.count(f.name)
                            ? " (inferred from the first record's array of integers; give "
                              "the field the type float32 for a float column: pack "
                              "--field-type " +
                                  f.name + "=float32)"
                            : ""));
    }
    const bool beyond_int64 = e.is_number_unsigned() && e.get<std::uint64_t>() > INT64_MAX;
    const std::int64_t x = beyond_int64 ? 0 : e.get<std::int64_t>();
    if (beyond_int64 || x < lo || x > hi) {
      Fail(f.name, "element " + std::to_string(i) + " (" + Excerpt(e) + ") is out of " +
                       std::string(DTypeName(f.dtype)) + "'s range" +
                       (beyond_int64 && !o_.field_types.count(f.name)
                            ? " (give the field a float type to store it inexactly: pack "
                              "--field-type " +
                                  f.name + "=float64)"
                            : ""));
    }
    return x;
  }

  // Converts the JSON array `v` to `f`'s dtype and adds it to the sample.
  void AddTensorElements(const FieldSpec& f, const Json& v) {
    element_bytes_.clear();
    const auto put = [this](const auto value) {
      const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
      element_bytes_.insert(element_bytes_.end(), p, p + sizeof value);
    };
    for (std::size_t i = 0; i < v.size(); ++i) {
      switch (f.dtype) {
        case DType::kFloat32: {
          const double d = v[i].get<double>();
          if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
            Fail(f.name, "element " + std::to_string(i) + " (" + Excerpt(v[i]) +
                             ") is out of float32's range");
          }
          put(static_cast<float>(d));
          break;
        }
        case DType::kFloat64:
          put(v[i].get<double>());
          break;
        case DType::kInt64:
          put(IntElement(f, v, i, INT64_MIN, INT64_MAX));
          break;
        case DType::kInt32:
          put(static_cast<std::int32_t>(IntElement(f, v, i, INT32_MIN, INT32_MAX)));
          break;
        case DType::kInt16:
          put(static_cast<std::int16_t>(IntElement(f, v, i, INT16_MIN, INT16_MAX)));
          break;
        case DType::kInt8:
          put(static_cast<std::int8_t>(IntElement(f, v, i, INT8_MIN, INT8_MAX)));
          break;
        case DType::kUint32:
          put(static_cast<std::uint32_t>(IntElement(f, v, i, 0, UINT32_MAX)));
          break;
        case DType::kUint8:
          put(static_cast<std::uint8_t>(IntElement(f, v, i, 0, UINT8_MAX)));
          break;
        default:
          Fail(f.name, "dtype " + std::string(DTypeName(f.dtype)) + " cannot come from JSON");
      }
    }
    writer_->AddTensor(ByteView(element_bytes_.data(), element_bytes_.size()));
  }

  Status JsonLine(const std::string& line) {
    bool too_deep = false;
    // A key given twice in the record: nlohmann keeps the last value and the first vanished
    // without a word ({"s":1,"s":"x"} imported as s = "x").
    std::optional<std::string> repeated;
    record_keys_.clear();
    Json j;
    try {
      j = Json::parse(line, [&](int depth, Json::parse_event_t event, Json& parsed) {
        too_deep |= depth > kMaxJsonDepth;
        if (event == Json::parse_event_t::key && depth == 1 && !repeated) {
          const std::string& key = parsed.get_ref<const std::string&>();
          if (!record_keys_.insert(key).second) repeated = key;
        }
        return depth <= kMaxJsonDepth;  // nothing deeper is kept
      });
    } catch (const Json::exception& e) {
      // "[json.exception.parse_error.101] parse error at line 1, column 7: ..." without the tag.
      std::string why = e.what();
      if (const auto tag = why.find("] "); tag != std::string::npos) why.erase(0, tag + 2);
      if (why.size() > 200) why = why.substr(0, 197) + "...";
      Fail("", "malformed JSON: " + why);
    }
    if (too_deep) Fail("", "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    if (repeated) Fail(*repeated, "given twice in the record");
    if (!j.is_object()) Fail("", "record is not a JSON object");
    if (!writer_) {
      std::vector<FieldSpec> fields;
      for (const auto& [key, v] : j.items()) {
        FieldSpec f;
        f.name = key;
        if (v.is_number_integer()) {
          if (v.is_number_unsigned() && v.get<std::uint64_t>() > INT64_MAX) {
            Fail(key, "integer does not fit in int64");
          }
          f.type = FieldType::kInt64;
        } else if (v.is_number_float()) {
          f.type = FieldType::kFloat64;
        } else if (v.is_string()) {
          f.type = FieldType::kString;
        } else if (IsNumberArray(v)) {
          // Integers stay exact (token ids, indices); anything else is float32, the dtype of
          // features, which keeps 24 bits of mantissa (range errors are caught below).
          f.type = FieldType::kTensor;
          f.dtype = IsIntegerArray(v) ? DType::kInt64 : DType::kFloat32;
          f.shape = {static_cast<std::int64_t>(v.size())};
        } else {
          Fail(key, "unsupported value " + Excerpt(v) +
                        " (use integers, floats, strings or non-empty arrays of numbers)");
        }
        ApplyOverride(f, f.type == FieldType::kTensor);
        fields.push_back(std::move(f));
      }
      SHARDMESH_RETURN_IF_ERROR(CreateWriter(std::move(fields)));
    }
    const auto& fields = writer_->schema().fields();
    if (j.size() != fields.size()) {
      for (const auto& [key, v] : j.items()) {
        if (!writer_->schema().FieldIndex(key)) Fail(key, "not in the schema of the first record");
      }
    }
    writer_->BeginSample();
    for (const FieldSpec& f : fields) {
      auto it = j.find(f.name);
      if (it == j.end()) Fail(f.name, "missing");
      const Json& v = *it;
      switch (f.type) {
        case FieldType::kInt64:
          if (!v.is_number_integer() ||
              (v.is_number_unsigned() && v.get<std::uint64_t>() > INT64_MAX)) {
            Fail(f.name, "expected an int64, got " + Excerpt(v) +
                             (o_.field_types.count(f.name)
                                  ? ""
                                  : " (inferred from the first record; give the field the "
                                    "type float64 for a float column: pack --field-type " +
                                        f.name + "=float64)"));
          }
          writer_->AddInt64(v.get<std::int64_t>());
          break;
        case FieldType::kFloat64:
          if (!v.is_number()) Fail(f.name, "expected a number, got " + Excerpt(v));
          writer_->AddFloat64(v.get<double>());
          break;
        case FieldType::kString:
          if (!v.is_string()) Fail(f.name, "expected a string, got " + Excerpt(v));
          writer_->AddString(v.get_ref<const std::string&>());
          break;
        case FieldType::kTensor: {
          if (!v.is_array() || !IsNumberArray(v)) {
            Fail(f.name, "expected an array of numbers");
          }
          if (static_cast<std::int64_t>(v.size()) != f.shape[0]) {
            Fail(f.name, "array of " + std::to_string(v.size()) + " numbers, expected " +
                             std::to_string(f.shape[0]));
          }
          AddTensorElements(f, v);
          break;
        }
        case FieldType::kBytes:
          Fail(f.name, "bytes fields cannot come from JSON");
      }
    }
    return Commit();
  }

  // ---- CSV (RFC 4180 quoting within one line) ----

  std::vector<std::string> SplitCsv(const std::string& line) const {
    std::vector<std::string> cells(1);
    bool quoted = false, was_quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted) {
        if (c == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            cells.back() += '"';
            ++i;
          } else {
            quoted = false;
          }
        } else {
          cells.back() += c;
        }
      } else if (c == ',') {
        cells.emplace_back();
        was_quoted = false;
      } else if (c == '"' && cells.back().empty() && !was_quoted) {
        quoted = was_quoted = true;
      } else if (was_quoted) {
        Fail(cells.size() <= header_.size() ? header_.empty() ? "" : header_[cells.size() - 1] : "",
             "text after a closing quote");
      } else {
        cells.back() += c;
      }
    }
    if (quoted) Fail("", "unterminated quote (quoted newlines are not supported)");
    return cells;
  }

  // CSV numbers: decimal only (strtoll/strtod took "0x1A" as 26 and skipped leading but not
  // trailing spaces), an optional '+', spaces around the number ignored.
  static std::string_view NumberText(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    s = s.substr(first, s.find_last_not_of(" \t") - first + 1);
    if (s.size() > 1 && s[0] == '+' && s[1] != '-') s.remove_prefix(1);
    return s;
  }
  static bool ParseInt(const std::string& cell, std::int64_t* out) {
    const std::string_view s = NumberText(cell);
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
  }
  // Also "nan", "inf" and "-inf" (a float64 column's missing or unbounded values), and values
  // so small they round to a subnormal or zero (strtod's ERANGE refused 1e-310).
  static bool ParseDouble(const std::string& cell, double* out) {
    const std::string_view s = NumberText(cell);
    if (s.empty()) return false;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    if (end != s.data() + s.size()) return false;
    if (ec == std::errc::result_out_of_range) {
      *out = std::strtod(std::string(s).c_str(), nullptr);  // underflow: 0 or subnormal
      return !std::isinf(*out);
    }
    return ec == std::errc();
  }
  // What the first record's cell must look like for its column to be inferred numeric: digits
  // (after a sign or a point), so a text column whose first value is "NaN" or "Inf" stays text.
  static bool LooksNumeric(const std::string& cell) {
    std::string_view s = NumberText(cell);
    if (!s.empty() && s[0] == '-') s.remove_prefix(1);
    if (!s.empty() && s[0] == '.') s.remove_prefix(1);
    return !s.empty() && s[0] >= '0' && s[0] <= '9';
  }

  // For a value that does not fit its column's type: how to give the column another type,
  // unless the user already chose this one.
  std::string InferredTypeHint(const std::string& field, const char* types,
                               const char* example) const {
    if (o_.field_types.count(field)) return "";
    return std::string(" (inferred from the first record; give the column the type ") + types +
           ": pack --field-type " + field + "=" + example + ")";
  }

  Status CsvLine(const std::string& line) {
    if (!have_header_) {
      // A UTF-8 byte order mark (spreadsheet exports write one) is not part of the first name;
      // removed before the split, so a quoted first name ("\xEF\xBB\xBF\"a\",b") is unquoted.
      std::string_view text(line);
      if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.remove_prefix(3);
      if (text.find('\r') != std::string_view::npos) {
        Fail("",
             "a carriage return inside the header line: lines ending in CR alone are not "
             "supported (convert them to LF or CRLF)");
      }
      std::vector<std::string> cells = SplitCsv(std::string(text));
      for (const std::string& name : cells) {
        if (name.empty()) Fail("", "empty column name in the header");
      }
      header_ = std::move(cells);
      have_header_ = true;
      return Status::OK();
    }
    std::vector<std::string> cells = SplitCsv(line);
    if (cells.size() < header_.size()) Fail(header_[cells.size()], "missing");
    if (cells.size() > header_.size()) {
      Fail("", std::to_string(cells.size()) + " cells, the header has " +
                   std::to_string(header_.size()));
    }
    if (!writer_) {
      std::vector<FieldSpec> fields;
      for (std::size_t i = 0; i < cells.size(); ++i) {
        FieldSpec f;
        f.name = header_[i];
        std::int64_t iv;
        double dv;
        if (ParseInt(cells[i], &iv)) {
          f.type = FieldType::kInt64;
        } else if (LooksNumeric(cells[i]) && ParseDouble(cells[i], &dv)) {
          f.type = FieldType::kFloat64;
        } else {
          f.type = FieldType::kString;
        }
        ApplyOverride(f, /*array_value=*/false);
        fields.push_back(std::move(f));
      }
      SHARDMESH_RETURN_IF_ERROR(CreateWriter(std::move(fields)));
    }
    const auto& fields = writer_->schema().fields();
    writer_->BeginSample();
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const FieldSpec& f = fields[i];
      switch (f.type) {
        case FieldType::kInt64: {
          std::int64_t v;
          if (!ParseInt(cells[i], &v)) {
            Fail(f.name, "expected an int64, got \"" + cells[i] + "\"" +
                             InferredTypeHint(f.name, "float64 or string", "TYPE"));
          }
          writer_->AddInt64(v);
          break;
        }
        case FieldType::kFloat64: {
          double v;
          if (!ParseDouble(cells[i], &v)) {
            Fail(f.name, "expected a number, got \"" + cells[i] + "\"" +
                             InferredTypeHint(f.name, "string", "string"));
          }
          writer_->AddFloat64(v);
          break;
        }
        case FieldType::kString:
          // JSONL refuses such text too (stored strings are UTF-8, as msgpack's str says).
          if (!IsValidUtf8(cells[i])) {
            Fail(f.name, "text that is not valid UTF-8: \"" + EscapeInvalidUtf8(cells[i]) + "\"");
          }
          writer_->AddString(cells[i]);
          break;
        default:
          Fail(f.name, "unsupported CSV type");
      }
    }
    return Commit();
  }

  const ImportOptions& o_;
  std::unique_ptr<DatasetWriter> writer_;
  std::uint64_t line_no_ = 0;
  std::vector<std::string> header_;
  bool have_header_ = false;
  std::vector<std::uint8_t> element_bytes_;  // one tensor's little-endian elements
  std::unordered_set<std::string> record_keys_;  // the JSON record's keys so far
};

}  // namespace

std::optional<ImportFormat> ParseImportFormat(std::string_view name) {
  if (name == "jsonl") return ImportFormat::kJsonl;
  if (name == "csv") return ImportFormat::kCsv;
  return std::nullopt;
}

Status CheckFieldTypeOverride(std::string_view type) {
  if (IsScalarTypeName(type) || IsArrayTypeName(type)) return Status::OK();
  return Status::InvalidArgument("unknown type '" + std::string(type) + "' (single values: " +
                                 std::string(kScalarTypesText) +
                                 "; arrays: " + std::string(kArrayTypesText) + ")");
}

Result<Manifest> ImportRecords(const ImportOptions& options) {
  Importer importer(options);
  return importer.Run();
}

}  // namespace shardmesh::loader
