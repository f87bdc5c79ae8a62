// Registration functions of the extension module, one per bound concept.
#pragma once

#include <pybind11/pybind11.h>

namespace shardmesh::python {

void RegisterDataset(pybind11::module_& module);  // dataset_binding.cc
void RegisterLoader(pybind11::module_& module);   // loader_binding.cc
void RegisterWriter(pybind11::module_& module);   // writer_binding.cc
void RegisterMesh(pybind11::module_& module);     // mesh_binding.cc

}  // namespace shardmesh::python
