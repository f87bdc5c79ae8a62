// shardmesh._shardmesh: the compiled half of the `shardmesh` Python package. The public
// Python API (argument defaults, environment look-ups, torch integration) lives in
// python/shardmesh/*.py; this module exposes the C++ types underneath.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "errors.h"

PYBIND11_MODULE(_shardmesh, m) {
  m.doc() = "shardmesh C++ core: datasets, the static-mode streaming loader, the writer, mesh-mode data workers.";
  shardmesh::python::RegisterErrors(m);
  shardmesh::python::RegisterDataset(m);
  shardmesh::python::RegisterLoader(m);
  shardmesh::python::RegisterWriter(m);
  shardmesh::python::RegisterMesh(m);
}
