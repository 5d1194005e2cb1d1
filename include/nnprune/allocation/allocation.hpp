#ifndef NNPRUNE_ALLOCATION_ALLOCATION_HPP
#define NNPRUNE_ALLOCATION_ALLOCATION_HPP

/// @file allocation.hpp
/// How a model-wide sparsity becomes per-layer pruning: the built-in models of the allocation
/// concept (plan.hpp); a user's allocation is a struct with the same member:
///  - uniform{s}: every layer at s (each comparison group of each layer);
///  - per_layer{{s_0, s_1, ...}}: explicit sparsities in layer order (e.g. from owl_layer_sparsities);
///  - global{s, min_keep, min_keep_fraction}: one exact threshold over all layers' scores
///    (select_global: exactly round(s * N) pruned over the N competing weights), optionally with a
///    minimum kept per layer;
///  - lamp_global{s} (lamp_global.hpp) and owl{...} (owl.hpp).

#include <cstddef>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../select/global_stream.hpp"
#include "plan.hpp"

namespace nnprune {

namespace detail {
inline void check_ratio(double s, const char* fn) {
    NNPRUNE_PRECONDITION(s >= 0.0 && s <= 1.0, detail::str(fn, ": sparsity must be in [0, 1], got ", s));
}
}  // namespace detail

struct uniform {
    double sparsity = 0.5;

    [[nodiscard]] std::vector<layer_plan> plan(prune_context& c) const {
        detail::check_ratio(sparsity, "prune");
        return std::vector<layer_plan>(c.size(), layer_plan::ratio(sparsity));
    }
};

struct per_layer {
    std::vector<double> sparsities;

    [[nodiscard]] std::vector<layer_plan> plan(prune_context& c) const {
        NNPRUNE_PRECONDITION(sparsities.size() == c.size(), detail::str("prune: per_layer has ", sparsities.size(),
                                                                        " sparsities for ", c.size(), " layers"));
        std::vector<layer_plan> p;
        for (double s : sparsities) {
            detail::check_ratio(s, "prune");
            p.push_back(layer_plan::ratio(s));
        }
        return p;
    }
};

/// One exact threshold over the scores of every layer it decides (global_stream: each layer
/// scored once in the common case, the same masks as select_global).
struct global {
    static constexpr bool per_tensor_only = true;
    double sparsity = 0.5;
    std::size_t min_keep = 0;        ///< every layer keeps at least this many weights
    double min_keep_fraction = 0.0;  ///< ... and at least this fraction of its weights
    /// Candidates global_stream may keep (16 bytes each; 0: 2^20): more resolve larger models in
    /// one scoring pass, fewer bound the memory tighter (an overflow costs another pass).
    std::size_t max_candidates = 0;

    void select(prune_context& c, std::span<const mask_view> masks, std::span<layer_report> reports) const {
        detail::check_ratio(sparsity, "prune");
        std::vector<std::size_t> idx, sizes, comp;
        for (std::size_t i = 0; i < c.size(); ++i)
            if (c.joint(i)) {
                idx.push_back(i);
                sizes.push_back(c.shape(i).numel());
                comp.push_back(c.competing(i));
            }
        if (idx.empty()) return;
        global_options go;
        go.round = c.options().round;
        go.nans = c.options().nans;
        go.threads = c.options().threads;
        go.min_keep = min_keep;
        go.min_keep_fraction = min_keep_fraction;
        go.name = "prune";
        global_stream gs(sizes, comp, sparsity, go, max_candidates);
        while (!gs.done()) {
            for (std::size_t t = 0; t < idx.size(); ++t)
                c.scores(idx[t], [&](const score_tensor& s) {
                    gs.feed(t, s.data(), masks[idx[t]], c.previous(idx[t]), c.name(idx[t]));
                });
            gs.end_pass();
        }
        // each pass re-scores the layers: a source that changed in between breaks the count
        std::size_t pruned = 0;
        for (std::size_t t = 0; t < idx.size(); ++t) pruned += comp[t] - masks[idx[t]].count();
        NNPRUNE_CHECK(pruned == gs.k(), value_error,
                      detail::str("prune: global selection pruned ", pruned, " weights where it planned k = ", gs.k(),
                                  ": the layers' scores changed between scoring passes (a layer source must give "
                                  "the same weights each time a layer is acquired)"));
        for (auto i : idx) {
            reports[i].kth_score = gs.kth();
            reports[i].target = sparsity;
        }
    }
};

}  // namespace nnprune

#endif  // NNPRUNE_ALLOCATION_ALLOCATION_HPP
