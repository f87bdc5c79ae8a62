// Conversions between decoded samples and Python objects.
//
// Tensor fields become NumPy arrays. Per-sample conversion never copies tensor bytes: the
// arrays are read-only views into the decoded block, whose base object keeps the block alive.
// Batches stack each fixed-shape tensor field into one [batch, *shape] array; when every
// sample of the batch sits in one block at a constant stride the stacked array is a view too,
// otherwise the bytes are copied once (with the GIL released). int64 fields become int64
// arrays, float64 fields float64 arrays, strings and bytes Python lists.
//
// Thread-safety: every function needs the GIL, except where it says it releases it.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shardmesh/loader/sample.h"
#include "shardmesh/loader/schema.h"
#include "shardmesh/loader/streaming_loader.h"

namespace shardmesh::python {

// The NumPy dtype of a tensor element type.
// A path argument (str, bytes or os.PathLike) as the file system's bytes, os.fsencode's:
// any name the OS allows, also one that is not UTF-8.
std::string FsPath(const pybind11::handle& path);

pybind11::dtype NumpyDType(loader::DType dtype);
// The tensor element type of a NumPy dtype; InvalidArgumentError for unsupported ones.
loader::DType DTypeFromNumpy(const pybind11::dtype& dtype, const std::string& field);

// The schema as a list of {"name", "type", and for tensors "dtype", "shape"} dicts.
pybind11::list SchemaToPython(const loader::Schema& schema);

// One sample as {field: value}; tensors are read-only views kept alive by `block`.
pybind11::dict SampleToPython(const std::shared_ptr<const loader::DecodedBlock>& block,
                              const loader::SampleView& sample);

// A batch of samples as {field: stacked values}; adds "__index__" (int64 global indices) when
// `with_index`. Releases the GIL while copying tensor bytes.
pybind11::dict BatchToPython(const loader::Schema& schema,
                             const std::vector<loader::Sample>& samples, bool with_index);

}  // namespace shardmesh::python
