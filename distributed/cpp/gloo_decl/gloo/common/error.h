// Declarations only: what torch/csrc/distributed/c10d/ProcessGroupGloo.hpp names from gloo.
// The wheel links gloo into libtorch_cpu.so but ships none of its headers; our shim only
// constructs c10d::ProcessGroupGloo (defined in libtorch) and calls it through c10d::Backend, so
// it needs these names declared, never gloo's definitions. See distributed/build.rs.
#pragma once
