// Layering probe (see BUILD): must NOT compile. A server file that reaches
// into the engine's rooms fails to build.
#include "engine/engine.h"
#include "engine/planning/planner.h"

namespace slimserve {
int LayeringProbeInternal() { return 0; }
}  // namespace slimserve
