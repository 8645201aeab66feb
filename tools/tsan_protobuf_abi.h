// Force-included into every C++ file of a ThreadSanitizer build
// (tools/sanitize.sh --tsan): protobuf's MapFieldBase has two extra members
// when __SANITIZE_THREAD__ is defined (map_field.h, its const/mutable
// checks), so TSan-compiled code would lay out every map field
// differently from Debian's uninstrumented libprotobuf, which implements
// MapFieldBase: the crash of package_fuzzer_regression under TSan only
// (RELIABILITY.md). Reading protobuf's headers once with the macro hidden
// gives them the library's layout; their include guards keep it so.
#ifndef SLIMSERVE_TOOLS_TSAN_PROTOBUF_ABI_H_
#define SLIMSERVE_TOOLS_TSAN_PROTOBUF_ABI_H_
#ifdef __cplusplus
#pragma push_macro("__SANITIZE_THREAD__")
#undef __SANITIZE_THREAD__
#include <google/protobuf/map_field.h>
#pragma pop_macro("__SANITIZE_THREAD__")
#endif
#endif  // SLIMSERVE_TOOLS_TSAN_PROTOBUF_ABI_H_
