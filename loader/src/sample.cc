#include "shardmesh/loader/sample.h"

#include <cstdio>
#include <cstdlib>

namespace shardmesh::loader {

DecodedBlock::DecodedBlock(internal::DecodedBlockParts parts)
    : schema_(std::move(parts.schema)),
      specs_(schema_.fields().data()),
      num_fields_(schema_.num_fields()),
      raw_(std::move(parts.raw)),
      first_sample_(parts.first_sample),
      num_samples_(parts.num_samples),
      slots_(std::move(parts.slots)),
      shape_pool_(std::move(parts.shape_pool)) {}

namespace internal {
void DieOnInvalidFieldView(const char* accessor) {
  std::fprintf(stderr,
               "shardmesh: FieldView::%s() on an invalid view: SampleView::field(name) found no "
               "field of that name in the schema (check valid() when a name may be wrong)\n",
               accessor);
  std::abort();
}
}  // namespace internal

FieldView SampleView::field(std::string_view name) const {
  const auto index = block_->schema_.FieldIndex(name);
  if (!index) return FieldView();
  return field(*index);
}

}  // namespace shardmesh::loader
