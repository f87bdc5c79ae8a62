// Status -> Python exception mapping for the extension module.
//
// Every non-OK Status crossing into Python becomes an instance of shardmesh.Error (or one of
// its subclasses, chosen by the status code) whose message is the Status message unchanged, so
// Python users read the same text as the CLI prints. NotFound is also a FileNotFoundError,
// InvalidArgument a ValueError, AlreadyExists a FileExistsError, IOError an OSError.
//
// Thread-safety: RegisterErrors runs once at import; ThrowStatus needs the GIL.
#pragma once

#include <pybind11/pybind11.h>

#include <utility>

#include "shardmesh/common/status.h"

namespace shardmesh::python {

// Creates the exception classes in `module` (Error, NotFoundError, ...).
void RegisterErrors(pybind11::module_& module);

// Raises the Python exception for `status` (which must not be OK).
[[noreturn]] void ThrowStatus(const Status& status);

inline void ThrowIfError(const Status& status) {
  if (!status.ok()) ThrowStatus(status);
}

template <typename T>
T ValueOrThrow(Result<T> result) {
  if (!result.ok()) ThrowStatus(result.status());
  return std::move(result).value();
}

}  // namespace shardmesh::python
