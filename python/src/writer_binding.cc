// shardmesh._shardmesh._Writer: appends Python dicts to a DatasetWriter (used by
// shardmesh.write_dataset). Values are converted by the schema: ints, floats, str, bytes and
// array-likes for tensors (cast to the field's dtype, shape checked). Errors name the field and
// the sample number. Thread-safety: one thread writes.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "conversion.h"
#include "errors.h"
#include "shardmesh/common/utf8.h"
#include "shardmesh/loader/dataset_writer.h"

namespace shardmesh::python {
namespace py = pybind11;
using loader::FieldType;

namespace {

// (name, type name, dtype name, shape) as shardmesh.write_dataset normalises a schema.
using FieldTuple = std::tuple<std::string, std::string, std::string, std::vector<std::int64_t>>;

loader::Schema MakeSchema(const std::vector<FieldTuple>& fields,
                          std::optional<std::string> label_field) {
  std::vector<loader::FieldSpec> specs;
  for (const auto& [name, type, dtype, shape] : fields) {
    loader::FieldSpec spec;
    spec.name = name;
    std::optional<FieldType> t = loader::ParseFieldType(type);
    if (!t)
      ThrowStatus(Status::InvalidArgument("field '" + name + "': unknown type '" + type + "'"));
    spec.type = *t;
    if (spec.type == FieldType::kTensor) {
      std::optional<loader::DType> d = loader::ParseDType(dtype);
      if (!d) {
        ThrowStatus(Status::InvalidArgument("field '" + name + "': unknown dtype '" + dtype + "'"));
      }
      spec.dtype = *d;
      spec.shape = shape;
    }
    specs.push_back(std::move(spec));
  }
  return ValueOrThrow(loader::Schema::Create(std::move(specs), std::move(label_field)));
}

class PyWriter {
 public:
  PyWriter(const std::string& path, const std::vector<FieldTuple>& fields,
           std::optional<std::string> label_field, std::uint64_t samples_per_shard,
           std::size_t block_bytes, bool overwrite)
      : schema_(MakeSchema(fields, std::move(label_field))) {
    loader::DatasetWriterOptions options;
    options.samples_per_shard = samples_per_shard;
    options.target_block_bytes = block_bytes;
    options.overwrite = overwrite;
    writer_ = ValueOrThrow(loader::DatasetWriter::Create(path, schema_, options));
  }

  // What converting `src` (of dtype `from`) to `a` (of dtype `want`) lost, "" if nothing that
  // matters: integers are compared by value with want's range (a round trip through a
  // same-width type of the other sign wraps back and hides the change), floats into an
  // integer dtype must come back exactly, and only an overflow to inf counts for a float dtype.
  static std::string LossOf(const py::module_& np, const py::object& src, const py::dtype& from,
                            const py::array& a, const py::dtype& want) {
    const std::string name = py::str(py::object(want));
    if (from.is(want) || np.attr("can_cast")(from, want, "safe").cast<bool>()) return "";
    if (want.kind() == 'f') {
      const bool overflow =
          np.attr("any")(np.attr("isinf")(a) & np.attr("isfinite")(src)).cast<bool>();
      return overflow ? "a value beyond the range of " + name : "";
    }
    const std::string lost = "values that " + name + " cannot hold exactly (out of range, or "
                             "fractions)";
    if (want.kind() == 'b') {  // a bool tensor takes 0 and 1 only
      return np.attr("all")((src.attr("__eq__")(0)) | (src.attr("__eq__")(1))).cast<bool>()
                 ? ""
                 : lost;
    }
    if (from.kind() == 'f') {
      return np.attr("array_equal")(a.attr("astype")(from), src).cast<bool>() ? "" : lost;
    }
    if (from.kind() == 'b' || a.size() == 0) return "";  // 0 and 1 fit every integer dtype
    const py::object info = np.attr("iinfo")(want);
    const py::int_ low = src.attr("min")(), high = src.attr("max")();
    const bool fits = py::int_(info.attr("min")) <= low && high <= py::int_(info.attr("max"));
    return fits ? "" : lost;
  }

  // `value` as a C-contiguous array of `want`, refusing what the conversion would change: an
  // integer that does not fit (NumPy wraps 2**40 into uint32 as 0, 300 into int8 as 44), a
  // fraction into an integer dtype, a finite value that overflows a float dtype to inf, and
  // text (NumPy's own ValueError named neither sample nor field). Narrowing float64 to float32
  // rounds, as expected of features, and is allowed.
  template <typename Fail>
  static py::array ToTensorArray(py::handle value, const py::dtype& want, Fail&& fail) {
    py::module_ np = py::module_::import("numpy");
    py::object src;
    try {
      src = np.attr("asarray")(value);  // its natural dtype (asarray keeps a scalar 0-d)
    } catch (const py::error_already_set& e) {
      fail(std::string("cannot make an array of it: ") + e.what());
    }
    const py::dtype from = src.attr("dtype").cast<py::dtype>();
    if (std::string("biuf").find(from.kind()) == std::string::npos) {
      fail("expected numbers, got " + std::string(py::str(py::object(from))) + " values");
    }
    py::array a;
    std::string refused;
    {
      // NumPy warns (RuntimeWarning) of the very casts refused below: they are errors here.
      py::object quiet = np.attr("errstate")(py::arg("all") = "ignore");
      quiet.attr("__enter__")();
      try {
        a = np.attr("asarray")(src, want, "C");
        refused = LossOf(np, src, from, a, want);
      } catch (...) {
        quiet.attr("__exit__")(py::none(), py::none(), py::none());
        throw;
      }
      quiet.attr("__exit__")(py::none(), py::none(), py::none());
    }
    if (!refused.empty()) fail(refused);
    return a;
  }

  void Add(const py::dict& sample) {
    if (!writer_) ThrowStatus(Status::FailedPrecondition("the writer was abandoned"));
    const std::string where = "sample " + std::to_string(writer_->num_samples());
    // Arrays must outlive EndSample: the encoder may keep pointers until then.
    std::vector<py::array> keep_alive;
    if (sample.size() > schema_.num_fields()) {  // a field the schema lacks would be lost
      std::string extra;
      for (const auto& item : sample) {
        const std::string name = py::str(item.first);
        if (!schema_.FieldIndex(name)) extra += (extra.empty() ? "'" : ", '") + name + "'";
      }
      std::string fields;
      for (const loader::FieldSpec& f : schema_.fields()) {
        fields += (fields.empty() ? "'" : ", '") + f.name + "'";
      }
      ThrowStatus(Status::InvalidArgument(where + ": " + extra + " not in the schema (fields " +
                                          fields +
                                          "; one inferred from sample 0 has only "
                                          "that sample's fields: pass schema= to name them all)"));
    }
    writer_->BeginSample();
    for (std::size_t i = 0; i < schema_.num_fields(); ++i) {
      const loader::FieldSpec& spec = schema_.fields()[i];
      auto fail = [&](const std::string& what) {
        // Close the sample so the writer stays usable; EndSample rejects it (too few fields).
        (void)writer_->EndSample();
        ThrowStatus(Status::InvalidArgument(where + ", field '" + spec.name + "': " + what));
      };
      py::str key(spec.name);
      if (!sample.contains(key)) fail("missing");
      py::handle value = sample[key];
      try {
        switch (spec.type) {
          case FieldType::kInt64:
          case FieldType::kFloat64:
            // True is an int to pybind11 (and 1.0 to a double): a bool is no number here.
            if (py::isinstance<py::bool_>(value) ||
                py::isinstance(value, py::module_::import("numpy").attr("bool_"))) {
              fail("a bool is not a number");
            }
            if (spec.type == FieldType::kInt64) {
              writer_->AddInt64(value.cast<std::int64_t>());
            } else {
              writer_->AddFloat64(value.cast<double>());
            }
            break;
          case FieldType::kString: {
            // Stored strings are UTF-8 (msgpack str; pack refuses others): bytes that are not
            // were written, and every later read of the sample failed to decode them.
            const std::string text = value.cast<std::string>();
            if (!IsValidUtf8(text)) {
              fail("text that is not valid UTF-8: \"" + EscapeInvalidUtf8(text) +
                   "\" (a bytes field holds binary data)");
            }
            writer_->AddString(text);
            break;
          }
          case FieldType::kBytes: {
            std::string bytes = value.cast<std::string>();
            writer_->AddBytes(AsBytes(bytes));
            break;
          }
          case FieldType::kTensor: {
            py::array a = ToTensorArray(value, NumpyDType(spec.dtype), fail);
            if (static_cast<std::size_t>(a.ndim()) != spec.shape.size()) {
              fail("expected " + std::to_string(spec.shape.size()) + " dimensions, got " +
                   std::to_string(a.ndim()));
            }
            std::vector<std::int64_t> dims(a.shape(), a.shape() + a.ndim());
            for (std::size_t d = 0; d < dims.size(); ++d) {
              if (spec.shape[d] != -1 && spec.shape[d] != dims[d]) {
                fail("dimension " + std::to_string(d) + " is " + std::to_string(dims[d]) +
                     ", the schema says " + std::to_string(spec.shape[d]));
              }
            }
            ByteView data(static_cast<const std::uint8_t*>(a.data()),
                          static_cast<std::size_t>(a.nbytes()));
            if (schema_.IsFixedTensor(i)) {
              writer_->AddTensor(data);
            } else {
              writer_->AddTensor(dims, data);
            }
            keep_alive.push_back(std::move(a));
            break;
          }
        }
      } catch (const py::cast_error&) {
        fail("cannot convert a " + std::string(py::str(value.get_type().attr("__name__"))) +
             " to " + std::string(loader::FieldTypeName(spec.type)) +
             (py::isinstance<py::str>(value) ? " (text that cannot be encoded as UTF-8?)" : ""));
      }
    }
    ThrowIfError(writer_->EndSample());
  }

  void Abandon() { writer_.reset(); }

  std::uint64_t Finish() {
    if (!writer_) ThrowStatus(Status::FailedPrecondition("the writer was abandoned"));
    loader::Manifest manifest = ValueOrThrow(writer_->Finish());
    return manifest.num_samples;
  }

  std::uint64_t num_samples() const { return writer_->num_samples(); }

 private:
  loader::Schema schema_;
  std::unique_ptr<loader::DatasetWriter> writer_;
};

}  // namespace

void RegisterWriter(py::module_& m) {
  py::class_<PyWriter>(m, "_Writer", "The C++ dataset writer; use shardmesh.write_dataset.")
      .def(py::init<const std::string&, const std::vector<FieldTuple>&, std::optional<std::string>,
                    std::uint64_t, std::size_t, bool>(),
           py::arg("path"), py::arg("fields"), py::arg("label_field"), py::arg("samples_per_shard"),
           py::arg("block_bytes"), py::arg("overwrite"))
      .def("abandon", &PyWriter::Abandon,
           "Gives up: removes the shards written so far (write_dataset calls it on an error).")
      .def("add", &PyWriter::Add, py::arg("sample"),
           "Appends one sample (a dict with every schema field).")
      .def("finish", &PyWriter::Finish, "Writes the manifest; returns the number of samples.")
      .def_property_readonly("num_samples", &PyWriter::num_samples);
}

}  // namespace shardmesh::python
