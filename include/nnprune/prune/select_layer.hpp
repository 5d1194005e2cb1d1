#ifndef NNPRUNE_PRUNE_SELECT_LAYER_HPP
#define NNPRUNE_PRUNE_SELECT_LAYER_HPP

/// @file select_layer.hpp
/// One acquired layer scored and selected into its mask (and, when asked, its pruned weights
/// zeroed): row streaming for per_row with a scorer that scores blocks of rows (bind.hpp,
/// row_stream.hpp), else the whole
/// layer scored into the reused buffer and selected by the pattern's select_mask (found by ADL).

#include <cstddef>
#include <limits>
#include <type_traits>

#include "../config.hpp"
#include "../core/layer.hpp"
#include "../masks/apply.hpp"
#include "../masks/mask.hpp"
#include "../scorers/scorer.hpp"
#include "../select/options.hpp"
#include "../select/pattern.hpp"
#include "report.hpp"
#include "row_stream.hpp"
#include "scratch.hpp"

namespace nnprune::detail {

/**
 * @brief Scores layer l and selects its mask under p (amount a per comparison group; fixed
 * patterns ignore it) into out, which holds the previous mask or all kept. With `zero`, the
 * pruned weights are zeroed too (the caller guarantees that nothing later can throw). Returns
 * the largest score pruned (NaN when none was).
 */
template <scorer S, pattern P>
double select_layer(const S& s, const layer& l, const P& p, const amount& a, mask_view out, const select_options& so,
                    bool zero, score_pool& pool, select_workspace& ws) {
    const auto& sh = l.weights.shape();
    if constexpr (std::is_same_v<P, per_row> && row_block_scorer<S>) {
        if (so.previous.size() == 0 && sh.rows() != 0 && sh.cols() != 0)
            if (const auto prep = prepare_row_stream(l, a.k_for(sh.cols(), so.round, "select_mask(per_row)"))) {
                float* buf = pool.floats(row_stream_buffer(*prep, so.threads));
                return row_stream(s, *prep, so.nans, so.threads, zero, out, buf, ws);
            }
    }
    const pooled_scores sc(pool, s, l, so.threads);
    selection sel;
    if constexpr (amount_pattern<P>)
        sel = select_mask(sc.get().ref(), p, a, out, so);
    else
        sel = select_mask(sc.get().ref(), p, out, so);
    if (zero) apply(l.weights, out);
    return max_kth(sel.kth);
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_PRUNE_SELECT_LAYER_HPP
