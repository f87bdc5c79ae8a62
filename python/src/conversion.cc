#include "conversion.h"

#include <pybind11/stl.h>

#include <cstring>

#include "errors.h"

namespace shardmesh::python {
namespace py = pybind11;
using loader::DType;
using loader::FieldType;

namespace {

// A Python object owning one reference to a decoded block: the `base` of zero-copy arrays.
py::capsule BlockOwner(const std::shared_ptr<const loader::DecodedBlock>& block) {
  auto* holder = new std::shared_ptr<const loader::DecodedBlock>(block);
  return py::capsule(
      holder, [](void* p) { delete static_cast<std::shared_ptr<const loader::DecodedBlock>*>(p); });
}

// A read-only array over bytes that `base` keeps alive.
py::array ReadOnlyView(const py::dtype& dtype, std::vector<py::ssize_t> shape,
                       std::vector<py::ssize_t> strides, const void* data, py::handle base) {
  py::array array(dtype, std::move(shape), std::move(strides), data, base);
  py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return array;
}

std::vector<py::ssize_t> CStrides(std::span<const std::int64_t> shape, std::size_t item) {
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = static_cast<py::ssize_t>(item);
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= static_cast<py::ssize_t>(shape[i]);
  }
  return strides;
}

py::array TensorView(const loader::TensorView& t, py::handle base) {
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  return ReadOnlyView(NumpyDType(t.dtype), shape, CStrides(t.shape, loader::DTypeSize(t.dtype)),
                      t.data.data(), base);
}

// Stacks fixed-shape tensor field `field` of `samples`: a strided view when all samples share
// a block and sit at a constant positive stride, else a fresh array filled in `copies`.
struct PendingCopy {
  std::uint8_t* dst;
  const std::uint8_t* src;
  std::size_t bytes;
};
py::array StackTensor(const loader::FieldSpec& spec, std::size_t field,
                      const std::vector<loader::Sample>& samples, py::handle shared_base,
                      std::vector<PendingCopy>& copies) {
  const std::size_t n = samples.size();
  const std::size_t item = loader::DTypeSize(spec.dtype);
  std::size_t value_bytes = item;
  for (std::int64_t d : spec.shape) value_bytes *= static_cast<std::size_t>(d);
  std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(n)};
  shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
  std::vector<py::ssize_t> inner = CStrides(spec.shape, item);

  if (shared_base && n >= 2) {
    const std::uint8_t* first = samples[0].view.field(field).AsTensor().data.data();
    const std::uint8_t* second = samples[1].view.field(field).AsTensor().data.data();
    const std::ptrdiff_t stride = second - first;
    // Also whole elements apart and aligned: NumPy takes any stride, but torch.from_numpy
    // refuses one that is not a multiple of the element size (a 2-sample batch 3,191 bytes
    // apart raised ValueError in ShardMeshDataset).
    bool regular = stride >= static_cast<std::ptrdiff_t>(value_bytes) &&
                   stride % static_cast<std::ptrdiff_t>(item) == 0 &&
                   reinterpret_cast<std::uintptr_t>(first) % item == 0;
    for (std::size_t i = 2; regular && i < n; ++i) {
      regular = samples[i].view.field(field).AsTensor().data.data() == first + stride * i;
    }
    if (regular) {
      std::vector<py::ssize_t> strides{static_cast<py::ssize_t>(stride)};
      strides.insert(strides.end(), inner.begin(), inner.end());
      return ReadOnlyView(NumpyDType(spec.dtype), shape, strides, first, shared_base);
    }
  }
  py::array out(NumpyDType(spec.dtype), shape);
  auto* dst = static_cast<std::uint8_t*>(out.mutable_data());
  for (std::size_t i = 0; i < n; ++i) {
    copies.push_back(
        {dst + i * value_bytes, samples[i].view.field(field).AsTensor().data.data(), value_bytes});
  }
  return out;
}

}  // namespace

py::dtype NumpyDType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return py::dtype("<f4");
    case DType::kFloat64:
      return py::dtype("<f8");
    case DType::kFloat16:
      return py::dtype("<f2");
    case DType::kInt8:
      return py::dtype("i1");
    case DType::kUint8:
      return py::dtype("u1");
    case DType::kInt16:
      return py::dtype("<i2");
    case DType::kInt32:
      return py::dtype("<i4");
    case DType::kUint32:
      return py::dtype("<u4");
    case DType::kInt64:
      return py::dtype("<i8");
    case DType::kBool:
      return py::dtype("?");
  }
  return py::dtype("u1");
}

DType DTypeFromNumpy(const py::dtype& dtype, const std::string& field) {
  for (DType d : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt8, DType::kUint8,
                  DType::kInt16, DType::kInt32, DType::kUint32, DType::kInt64, DType::kBool}) {
    if (NumpyDType(d).equal(dtype)) return d;
  }
  ThrowStatus(Status::InvalidArgument("field '" + field + "': unsupported NumPy dtype " +
                                      dtype.attr("name").cast<std::string>()));
}

py::list SchemaToPython(const loader::Schema& schema) {
  py::list fields;
  for (const loader::FieldSpec& spec : schema.fields()) {
    py::dict f;
    f["name"] = spec.name;
    f["type"] = std::string(loader::FieldTypeName(spec.type));
    if (spec.type == FieldType::kTensor) {
      f["dtype"] = std::string(loader::DTypeName(spec.dtype));
      f["shape"] = py::tuple(py::cast(spec.shape));
    }
    fields.append(f);
  }
  return fields;
}

py::dict SampleToPython(const std::shared_ptr<const loader::DecodedBlock>& block,
                        const loader::SampleView& sample) {
  const loader::Schema& schema = block->schema();
  py::capsule owner = BlockOwner(block);
  py::dict out;
  for (std::size_t i = 0; i < schema.num_fields(); ++i) {
    const loader::FieldSpec& spec = schema.fields()[i];
    loader::FieldView f = sample.field(i);
    py::str key(spec.name);
    switch (spec.type) {
      case FieldType::kInt64:
        out[key] = py::int_(f.AsInt64());
        break;
      case FieldType::kFloat64:
        out[key] = py::float_(f.AsFloat64());
        break;
      case FieldType::kString: {
        std::string_view s = f.AsString();
        out[key] = py::str(s.data(), s.size());
        break;
      }
      case FieldType::kBytes: {
        ByteView b = f.AsBytes();
        out[key] = py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
        break;
      }
      case FieldType::kTensor:
        out[key] = TensorView(f.AsTensor(), owner);
        break;
    }
  }
  return out;
}

py::dict BatchToPython(const loader::Schema& schema, const std::vector<loader::Sample>& samples,
                       bool with_index) {
  const std::size_t n = samples.size();
  py::dict out;
  // Zero-copy stacking is possible only when one block holds the whole batch.
  py::object shared_base;
  if (n > 0) {
    bool one_block = true;
    for (const loader::Sample& s : samples) one_block = one_block && s.block == samples[0].block;
    if (one_block) shared_base = BlockOwner(samples[0].block);
  }
  std::vector<PendingCopy> copies;
  for (std::size_t i = 0; i < schema.num_fields(); ++i) {
    const loader::FieldSpec& spec = schema.fields()[i];
    py::str key(spec.name);
    switch (spec.type) {
      case FieldType::kInt64: {
        py::array_t<std::int64_t> a(static_cast<py::ssize_t>(n));
        std::int64_t* p = a.mutable_data();
        for (std::size_t j = 0; j < n; ++j) p[j] = samples[j].view.field(i).AsInt64();
        out[key] = a;
        break;
      }
      case FieldType::kFloat64: {
        py::array_t<double> a(static_cast<py::ssize_t>(n));
        double* p = a.mutable_data();
        for (std::size_t j = 0; j < n; ++j) p[j] = samples[j].view.field(i).AsFloat64();
        out[key] = a;
        break;
      }
      case FieldType::kString: {
        py::list l(n);
        for (std::size_t j = 0; j < n; ++j) {
          std::string_view s = samples[j].view.field(i).AsString();
          l[j] = py::str(s.data(), s.size());
        }
        out[key] = l;
        break;
      }
      case FieldType::kBytes: {
        py::list l(n);
        for (std::size_t j = 0; j < n; ++j) {
          ByteView b = samples[j].view.field(i).AsBytes();
          l[j] = py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
        }
        out[key] = l;
        break;
      }
      case FieldType::kTensor: {
        if (schema.IsFixedTensor(i)) {
          out[key] = StackTensor(spec, i, samples, shared_base, copies);
        } else {
          // Shapes differ per sample: a list of views, one per sample.
          py::list l(n);
          for (std::size_t j = 0; j < n; ++j) {
            l[j] = TensorView(samples[j].view.field(i).AsTensor(), BlockOwner(samples[j].block));
          }
          out[key] = l;
        }
        break;
      }
    }
  }
  if (with_index) {
    py::array_t<std::int64_t> a(static_cast<py::ssize_t>(n));
    std::int64_t* p = a.mutable_data();
    for (std::size_t j = 0; j < n; ++j) p[j] = static_cast<std::int64_t>(samples[j].global_index());
    out["__index__"] = a;
  }
  if (!copies.empty()) {
    py::gil_scoped_release release;
    for (const PendingCopy& c : copies) std::memcpy(c.dst, c.src, c.bytes);
  }
  return out;
}

std::string FsPath(const py::handle& path) {
  return py::module_::import("os").attr("fsencode")(path).cast<std::string>();
}

}  // namespace shardmesh::python
