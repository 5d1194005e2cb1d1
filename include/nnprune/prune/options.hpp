#ifndef NNPRUNE_PRUNE_OPTIONS_HPP
#define NNPRUNE_PRUNE_OPTIONS_HPP

/// @file options.hpp
/// What prune() is told besides the layers, the scorer, the pattern and the allocation.

#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "../allocation/layer_filter.hpp"
#include "../config.hpp"
#include "../masks/mask.hpp"
#include "../reconstruct/reconstructor.hpp"
#include "../select/policy.hpp"
#include "report.hpp"

namespace nnprune {

struct prune_options {
    rounding round = rounding::half_even;  ///< k from a ratio; rounding::truncate for Wanda/GBLM/OWL/SparseGPT/FLAP
    /// reject: NaN/Inf in weights, statistics or gradients is an error naming the layer; otherwise
    /// they are scored as usual and NaN scores rank lowest / highest.
    nan_policy nans = nan_policy::reject;
    bool apply = false;   ///< zero the pruned weights in place
    layer_filter filter;  ///< layers left dense / per-layer sparsity overrides
    /// Masks from an earlier round, one per layer (empty: none): only still-kept weights compete,
    /// the ratio is a fraction of them, and pruned weights stay pruned (torch PruningContainer).
    std::span<const const_mask_view> previous{};
    /// Parallelises scoring and selection within a layer; results are identical for any count.
    unsigned threads = 1;
    /// Optional score buffer reused across calls (grown as needed, left allocated): saves the
    /// allocation and first-touch page faults of a fresh score tensor on every call. Only one
    /// layer's scores are alive at a time; on the row-streaming path only a block of rows' scores
    /// per thread (about 256 KiB each).
    std::vector<float>* scratch = nullptr;
    /// Called once per layer, in ascending order, when its mask and report are final (and, with
    /// apply, its pruned weights zeroed; before the layer source's release(i, true)): progress
    /// bars, writing masks out. Arguments: layer index, its mask, its report.
    std::function<void(std::size_t, const_mask_view, const layer_report&)> on_layer;
    /// false: prune_result::masks is left empty and each layer's mask lives only until on_layer
    /// has seen it (one buffer reused from layer to layer), so a streamed model needs no memory
    /// per layer. Joint allocations (global, lamp_global) still hold every mask while they select.
    bool keep_masks = true;
    /// A step run on each pruned layer after its mask is selected (reconstruct/reconstructor.hpp):
    /// sparsegpt_step (the OBS update of the kept weights, or SparseGPT's own mask), dsnot_step
    /// (mask refinement), or a user's reconstructor. A step that updates weights needs apply.
    reconstruct_step reconstruct;
};

}  // namespace nnprune

#endif  // NNPRUNE_PRUNE_OPTIONS_HPP
