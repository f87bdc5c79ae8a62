// shardmesh.Dataset: a read-only dataset directory (manifest, schema, blocks) and random
// access to single samples. Thread-safety: immutable; reads release the GIL.
#include <pybind11/stl.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "bindings.h"
#include "conversion.h"
#include "errors.h"
#include "shardmesh/common/utf8.h"
#include "shardmesh/loader/dataset.h"

namespace shardmesh::python {
namespace py = pybind11;
using loader::Dataset;

namespace {

std::shared_ptr<const Dataset> OpenDataset(const std::string& path, bool verify) {
  Result<std::shared_ptr<const Dataset>> dataset = Status::Internal("not opened");
  {
    py::gil_scoped_release release;
    loader::OpenOptions options;
    options.verify_file_checksums = verify;
    dataset = Dataset::Open(path, options);
  }
  return ValueOrThrow(std::move(dataset));
}

py::dict ReadSample(const Dataset& dataset, std::int64_t index) {
  const auto n = static_cast<std::int64_t>(dataset.num_samples());
  const std::int64_t asked = index;
  if (index < 0) index += n;
  if (index < 0 || index >= n) {
    // The index as given (-20001, not -1) and a directory name escaped where it is not UTF-8
    // (the message came out empty).
    throw py::index_error("sample " + std::to_string(asked) + " out of range for " +
                          EscapeInvalidUtf8(dataset.dir()) + " (" + std::to_string(n) +
                          " samples)");
  }
  Result<std::shared_ptr<const loader::DecodedBlock>> block = Status::Internal("not read");
  std::uint64_t first = 0;
  {
    py::gil_scoped_release release;
    std::uint32_t b = dataset.BlockOfSample(static_cast<std::uint64_t>(index));
    first = dataset.blocks()[b].first_sample;
    block = dataset.ReadBlock(b);
  }
  std::shared_ptr<const loader::DecodedBlock> decoded = ValueOrThrow(std::move(block));
  return SampleToPython(decoded, decoded->sample(static_cast<std::size_t>(index) - first));
}

}  // namespace

void RegisterDataset(py::module_& m) {
  py::class_<Dataset, std::shared_ptr<Dataset>>(m, "Dataset", R"doc(
A dataset directory opened for reading: Dataset(path, verify=False).

Raises NotFoundError (a FileNotFoundError) when the manifest or a shard file is missing and
CorruptionError naming the file (and block) when one is damaged. verify=True reads every file
once at open and checks its checksum.
)doc")
      .def(py::init([](const py::object& path, bool verify) {
             const std::string dir = FsPath(path);
             // pybind11 holds a non-const shared_ptr; the Dataset is never mutated through it.
             return std::const_pointer_cast<Dataset>(OpenDataset(dir, verify));
           }),
           py::arg("path"), py::arg("verify") = false)
      .def_property_readonly(
          "path",
          [](const Dataset& d) {
            return py::module_::import("os").attr("fsdecode")(py::bytes(d.dir()));
          },
          "The dataset directory, as opened (os.fsdecode of its bytes).")
      .def_property_readonly("num_samples", &Dataset::num_samples, "Samples in the dataset.")
      .def_property_readonly("num_shards", &Dataset::num_shards, "Shard files.")
      .def_property_readonly(
          "num_blocks", [](const Dataset& d) { return d.blocks().size(); },
          "Compressed blocks over all shards (the unit of reading and decoding).")
      .def_property_readonly(
          "schema", [](const Dataset& d) { return SchemaToPython(d.schema()); },
          "The fields in order, as a list of dicts {name, type, dtype, shape} (the form "
          "write_dataset's schema= accepts).")
      .def_property_readonly(
          "label_field", [](const Dataset& d) { return d.schema().label_field(); },
          "Name of the int64 label field (label histogram, stratified splits), or None.")
      .def_property_readonly(
          "schema_text", [](const Dataset& d) { return d.schema().ToString(); },
          "The schema as `shardmesh inspect` prints it.")
      .def("__len__", &Dataset::num_samples)
      .def(
          "__getitem__",
          [](const Dataset& d, const py::object& index) {
            // An int (or NumPy integer), not a bool: ds[True] read sample 1.
            if (py::isinstance<py::bool_>(index) ||
                py::isinstance(index, py::module_::import("numpy").attr("bool_")) ||
                !py::hasattr(index, "__index__")) {
              throw py::type_error("Dataset indices must be integers, not " +
                                   std::string(py::str(index.get_type().attr("__name__"))));
            }
            const py::int_ i = index.attr("__index__")();
            const auto n = static_cast<std::int64_t>(d.num_samples());
            if (i < py::int_(-n) || i >= py::int_(n)) {  // 2**70 raised a cast RuntimeError
              throw py::index_error("sample " + std::string(py::str(py::object(i))) + " out of range for " +
                                    EscapeInvalidUtf8(d.dir()) + " (" + std::to_string(n) +
                                    " samples)");
            }
            return ReadSample(d, i.cast<std::int64_t>());
          },
          py::arg("index"),
          "Sample `index` as {field: value}; tensors are read-only views into the decoded block.")
      .def(
          "blocks",
          [](const Dataset& d) {
            py::list out;
            for (const loader::BlockInfo& b : d.blocks()) {
              py::dict info;
              info["shard"] = b.shard;
              info["first_sample"] = b.first_sample;
              info["num_samples"] = b.num_samples;
              info["compressed_size"] = b.compressed_size;
              info["raw_size"] = b.raw_size;
              out.append(info);
            }
            return out;
          },
          "Every block as a dict (shard, first_sample, num_samples, compressed_size, raw_size).")
      .def(
          "verify",
          [](const Dataset& d) {
            Status status;
            {
              py::gil_scoped_release release;
              status = d.VerifyAll();
            }
            ThrowIfError(status);
          },
          "Reads every block and file, checks checksums and decodes every block against the "
          "schema; raises CorruptionError naming the first damaged file and block.")
      .def("__repr__",
           [](const Dataset& d) {
             return "<shardmesh.Dataset " + EscapeInvalidUtf8(d.dir()) + ": " +
                    std::to_string(d.num_samples()) + " samples, " +
                    std::to_string(d.num_shards()) + " shards, " +
                    std::to_string(d.blocks().size()) + " blocks>";
           })
      // Pickled as its directory (bytes, so any file name survives) and reopened on load: a
      // map-style wrapper holding one can go to spawn/forkserver DataLoader workers.
      .def(py::pickle(
               [](const Dataset& d) {
                 // Absolute: the unpickling process may run in another directory.
                 return py::make_tuple(py::bytes(std::filesystem::absolute(d.dir()).string()));
               },
                      [](const py::tuple& state) {
                        if (state.size() != 1) {
                          throw std::runtime_error("shardmesh.Dataset: bad pickle state");
                        }
                        return std::const_pointer_cast<Dataset>(
                            OpenDataset(FsPath(state[0]), false));
                      }));
}

}  // namespace shardmesh::python
