#ifndef SLIMSERVE_TESTS_FUZZ_FUZZ_CHECK_H_
#define SLIMSERVE_TESTS_FUZZ_FUZZ_CHECK_H_

// A property a fuzz target checks: on failure prints what and aborts, which
// libFuzzer reports as a crash (with the input) and the replay test as a
// failure.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                  \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__,    \
                   __LINE__, #cond);                                      \
      std::abort();                                                       \
    }                                                                     \
  } while (0)

#endif  // SLIMSERVE_TESTS_FUZZ_FUZZ_CHECK_H_
