#include "errors.h"

#include <array>
#include <cerrno>
#include <string>

namespace shardmesh::python {
namespace py = pybind11;

namespace {

// One class per status code, indexed by the code's value; filled by RegisterErrors. The
// classes live as long as the module (they are module attributes), so raw handles suffice.
constexpr std::size_t kNumCodes = static_cast<std::size_t>(StatusCode::kInternal) + 1;
std::array<PyObject*, kNumCodes> g_classes{};

struct ClassSpec {
  StatusCode code;
  const char* name;
  PyObject* builtin_base;  // a second base besides shardmesh.Error, or nullptr
  const char* doc;
};

}  // namespace

void RegisterErrors(py::module_& module) {
  py::object type = py::module_::import("builtins").attr("type");
  py::object base = type("Error", py::make_tuple(py::handle(PyExc_Exception)),
                         py::dict(py::arg("__module__") = "shardmesh",
                                  py::arg("__doc__") = "Base class of every shardmesh error. "
                                                       "`code` is the status code name."));
  base.attr("code") = "unknown";
  module.attr("Error") = base;
  const ClassSpec specs[] = {
      {StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
       "A bad argument, option or value (also a ValueError)."},
      {StatusCode::kNotFound, "NotFoundError", PyExc_FileNotFoundError,
       "A missing dataset, manifest or shard file (also a FileNotFoundError)."},
      {StatusCode::kCorruption, "CorruptionError", nullptr,
       "A damaged file, block or checkpoint; the message names it."},
      {StatusCode::kIOError, "IoError", PyExc_OSError, "A failed read or write (also an OSError)."},
      {StatusCode::kUnavailable, "UnavailableError", nullptr, "A peer or resource is unavailable."},
      {StatusCode::kDeadlineExceeded, "DeadlineExceededError", PyExc_TimeoutError,
       "A deadline passed (also a TimeoutError)."},
      {StatusCode::kAlreadyExists, "AlreadyExistsError", PyExc_FileExistsError,
       "The target already exists (also a FileExistsError)."},
      {StatusCode::kFailedPrecondition, "FailedPreconditionError", nullptr,
       "The operation is not valid in the current state."},
      {StatusCode::kResourceExhausted, "ResourceExhaustedError", nullptr,
       "A memory or size limit was hit."},
      {StatusCode::kPermissionDenied, "PermissionDeniedError", PyExc_PermissionError,
       "Access refused (also a PermissionError)."},
  };
  g_classes.fill(base.ptr());
  for (const ClassSpec& spec : specs) {
    py::tuple bases = spec.builtin_base ? py::make_tuple(base, py::handle(spec.builtin_base))
                                        : py::make_tuple(base);
    py::object cls =
        type(spec.name, bases,
             py::dict(py::arg("__module__") = "shardmesh", py::arg("__doc__") = spec.doc));
    cls.attr("code") = std::string(StatusCodeName(spec.code));
    module.attr(spec.name) = cls;
    g_classes[static_cast<std::size_t>(spec.code)] = cls.ptr();
  }
}

void ThrowStatus(const Status& status) {
  auto index = static_cast<std::size_t>(status.code());
  PyObject* cls = index < kNumCodes ? g_classes[index] : g_classes[0];
  if (cls == nullptr) cls = PyExc_RuntimeError;  // before RegisterErrors: cannot happen
  // Codes without a class of their own raise the base class; the instance still says which.
  // A message may quote bytes that are not UTF-8 (a file name): they are escaped, not a
  // UnicodeDecodeError in place of the error.
  const std::string& message = status.message();
  py::object text = py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(
      message.data(), static_cast<Py_ssize_t>(message.size()), "backslashreplace"));
  if (!text) throw py::error_already_set();
  py::object error = py::reinterpret_borrow<py::object>(cls)(text);
  error.attr("code") = std::string(StatusCodeName(status.code()));
  // The OSError subclasses carry the errno their builtin base stands for, so `e.errno ==
  // errno.ENOENT` checks work (the message keeps naming the file).
  switch (status.code()) {
    case StatusCode::kNotFound:
      error.attr("errno") = ENOENT;
      break;
    case StatusCode::kAlreadyExists:
      error.attr("errno") = EEXIST;
      break;
    case StatusCode::kPermissionDenied:
      error.attr("errno") = EACCES;
      break;
    case StatusCode::kDeadlineExceeded:
      error.attr("errno") = ETIMEDOUT;
      break;
    default:
      break;
  }
  PyErr_SetObject(cls, error.ptr());
  throw py::error_already_set();
}

}  // namespace shardmesh::python
