#ifndef NNPRUNE_ALLOCATION_ALLOCATION_HPP
#define NNPRUNE_ALLOCATION_ALLOCATION_HPP

/// @file allocation.hpp
/// How a model-wide sparsity becomes per-layer pruning (value types the prune loop reads):
///  - uniform{s}: every layer at s (each comparison group of each layer);
///  - per_layer{{s_0, s_1, ...}}: explicit sparsities in layer order (e.g. from owl_layer_sparsities);
///  - global{s, min_keep, min_keep_fraction}: one exact threshold over all layers' scores
///    (select_global: exactly round(s * N) pruned over the N competing weights), optionally with a
///    minimum kept per layer;
///  - lamp_global{s} (lamp_global.hpp) and owl{...} (owl.hpp).

#include <cstddef>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"

namespace nnprune {

struct uniform {
    double sparsity = 0.5;
};

struct per_layer {
    std::vector<double> sparsities;
};

struct global {
    double sparsity = 0.5;
    std::size_t min_keep = 0;        ///< every layer keeps at least this many weights
    double min_keep_fraction = 0.0;  ///< ... and at least this fraction of its weights
};

namespace detail {
inline void check_ratio(double s, const char* fn) {
    NNPRUNE_PRECONDITION(s >= 0.0 && s <= 1.0, detail::str(fn, ": sparsity must be in [0, 1], got ", s));
}
}  // namespace detail

}  // namespace nnprune

#endif  // NNPRUNE_ALLOCATION_ALLOCATION_HPP
