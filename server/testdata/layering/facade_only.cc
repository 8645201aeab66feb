// Layering probe (see BUILD): the facade compiles on its own.
#include "engine/engine.h"
#include "engine/types.h"

namespace slimserve {
int LayeringProbeFacade() { return static_cast<int>(PlannerKind::kPaper); }
}  // namespace slimserve
