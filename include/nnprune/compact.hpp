#ifndef NNPRUNE_COMPACT_HPP
#define NNPRUNE_COMPACT_HPP

/// @file compact.hpp
/// Umbrella for structured compaction (needs nlohmann-json 3.11, for config.json): model families
/// as data, kept-unit selections, and the plan that writes a smaller dense checkpoint. Not
/// included by <nnprune/nnprune.hpp>.

#include "compact/family.hpp"
#include "compact/plan.hpp"
#include "compact/selection.hpp"

#endif  // NNPRUNE_COMPACT_HPP
