#ifndef NNPRUNE_ALLOCATION_LAMP_GLOBAL_HPP
#define NNPRUNE_ALLOCATION_LAMP_GLOBAL_HPP

/// @file lamp_global.hpp
/// Global LAMP allocation (algorithms.md §3, `_compute_lamp_amounts`), reproduced with its
/// survivor-count rule, for an amount = fraction of the currently unpruned weights:
///  1. n_l = unpruned count of layer l (float32); num_surv = round_half_even(float32(sum n_l) * float32(1 - amount));
///  2. thr = the num_surv-th largest LAMP score over all layers (scores of the masked weights, so
///     pruned zeros take part and score 0);
///  3. surv_l = #{score_l >= thr} (every tie at thr survives, so the total can exceed num_surv);
///  4. amount_l = float32(1 - surv_l / n_l); the layer prunes round_half_even(amount_l * n_l) of its
///     unpruned weights, the lowest |w| first (in a layer LAMP orders as |w|).

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../core/buffer.hpp"
#include "../core/errors.hpp"
#include "../core/layer.hpp"
#include "../masks/mask.hpp"
#include "../scorers/lamp.hpp"
#include "../scorers/magnitude.hpp"
#include "../select/global_stream.hpp"
#include "../select/select.hpp"
#include "allocation.hpp"
#include "plan.hpp"

namespace nnprune {

/// The plan lamp_global_plan() computes.
struct lamp_plan {
    std::size_t num_surv = 0;
    double threshold = 0.0;
    std::vector<std::size_t> unpruned;   ///< n_l
    std::vector<std::size_t> survivors;  ///< surv_l
    std::vector<std::size_t> prune;      ///< weights of layer l to prune now (among the unpruned)
};

namespace detail {
inline float round_half_even_f(float x) {
    const float fl = std::floor(x), d = x - fl;
    return d > 0.5f ? fl + 1.0f : d < 0.5f ? fl : (std::fmod(fl, 2.0f) == 0.0f ? fl : fl + 1.0f);
}

/// LAMP scores of a layer's weights masked by its previous mask (size 0: none), in a per-thread
/// buffer reused from layer to layer (valid until the next call on this thread).
inline std::span<const float> lamp_scores(const layer& l, const_mask_view previous) {
    thread_local std::vector<float> scores;
    const std::size_t n = l.weights.size();
    grow_buffer(scores, n);
    magnitude_scorer{}(l, matrix_view<float>(scores.data(), l.weights.shape().rows(), l.weights.shape().cols()));
    if (previous.size())
        for (std::size_t i = 0; i < n; ++i)
            if (!previous.test(i)) scores[i] = 0.0f;
    lamp_in_place(scores.data(), n);  // LAMP of the masked weights (|w| -> w^2 inside)
    return {scores.data(), n};
}

/**
 * The LAMP plan over n layers seen one at a time: with_layer(l, f) calls f(layer) for layer l,
 * previous(l) is its previous mask (size 0: none), shape(l) its weight shape. The threshold is
 * found by global_stream over the layers' LAMP scores (NaN ranks highest, as torch.topk), so no
 * layer's scores stay resident; each layer is visited once in the common case.
 */
template <class WithLayer, class Previous, class ShapeOf>
lamp_plan lamp_plan_streamed(std::size_t n, WithLayer&& with_layer, Previous&& previous, ShapeOf&& shape_of,
                             double amount, const char* fn) {
    NNPRUNE_PRECONDITION(n > 0, detail::str(fn, ": no layers"));
    detail::check_ratio(amount, fn);
    lamp_plan plan;
    std::vector<std::size_t> sizes(n);
    float total = 0.0f;
    std::size_t all = 0;
    for (std::size_t l = 0; l < n; ++l) {
        const const_mask_view p = previous(l);
        sizes[l] = shape_of(l).numel();
        NNPRUNE_CHECK(
            !p.size() || p.shape() == shape_of(l), shape_error,
            detail::str(fn, ": layer ", l, ": previous mask has ", p.shape(), " elements, weights have ", shape_of(l)));
        plan.unpruned.push_back(p.size() ? p.count() : sizes[l]);
        total += static_cast<float>(plan.unpruned.back());
        all += sizes[l];
    }
    const float prod = total * static_cast<float>(1.0 - amount);
    plan.num_surv = static_cast<std::size_t>(detail::round_half_even_f(prod));
    NNPRUNE_PRECONDITION(plan.num_surv >= 1,
                         detail::str(fn, ": sparsity ", amount, " leaves no survivor (num_surv = 0)"));
    NNPRUNE_PRECONDITION(plan.num_surv <= all, detail::str(fn, ": num_surv ", plan.num_surv, " exceeds ", all));
    // thr = the (all - num_surv + 1)-th smallest LAMP score; every element takes part
    global_options go;
    go.nans = nan_policy::as_highest;  // 0/0 of an all-zero layer: torch.topk ranks NaN highest
    global_stream gs(sizes, sizes, exactly{all - plan.num_surv + 1}, go);
    std::vector<std::size_t> nans(n, 0);
    std::vector<mask> masks;  // the stream writes them until done (one bit per weight); not needed after
    for (std::size_t l = 0; l < n; ++l) masks.emplace_back(shape_of(l), true);
    while (!gs.done()) {
        for (std::size_t l = 0; l < n; ++l)
            with_layer(l, [&](const layer& ly) {
                const auto s = lamp_scores(ly, previous(l));
                nans[l] = 0;
                for (float v : s) nans[l] += std::isnan(v);
                gs.feed(l, s.data(), masks[l].view());
            });
        gs.end_pass();
    }
    plan.threshold = gs.kth();
    for (std::size_t l = 0; l < n; ++l) {
        // #{score >= thr}: not below the k-th key, and not NaN (NaN >= thr is false)
        const std::size_t surv = std::isnan(plan.threshold) ? 0 : sizes[l] - gs.below_kth(l) - nans[l];
        plan.survivors.push_back(surv);
        const std::size_t un = plan.unpruned[l];
        const float a = un ? 1.0f - static_cast<float>(surv) / static_cast<float>(un) : 0.0f;
        // prune.l1_unstructured(amount=float(a)): round(a * n), half-even, in double
        std::size_t k = count_to_prune(un, a < 0.0f ? 0.0 : static_cast<double>(a), rounding::half_even);
        plan.prune.push_back(std::min(k, un));
    }
    return plan;
}
}  // namespace detail

/**
 * @brief The LAMP global plan for weights (any shapes / element types) and optional previous
 * masks (empty span: none). The LAMP scores are computed on the masked weights.
 * @throws precondition_error (no layers, sparsity outside [0, 1], num_surv = 0), shape_error.
 */
[[nodiscard]] inline lamp_plan lamp_global_plan(std::span<const layer> layers, double amount,
                                                std::span<const const_mask_view> previous = {}) {
    constexpr const char* fn = "lamp_global";
    NNPRUNE_CHECK(previous.empty() || previous.size() == layers.size(), shape_error,
                  detail::str(fn, ": ", layers.size(), " layers but ", previous.size(), " previous masks"));
    return detail::lamp_plan_streamed(
        layers.size(), [&](std::size_t l, auto&& f) { f(layers[l]); },
        [&](std::size_t l) { return previous.empty() ? const_mask_view{} : previous[l]; },
        [&](std::size_t l) -> const nnprune::shape& { return layers[l].weights.shape(); }, amount, fn);
}

/// Global LAMP as a prune() allocation (per_tensor pattern): each layer it decides prunes the
/// plan's count of its unpruned weights; its LAMP scores are computed layer by layer.
struct lamp_global {
    static constexpr bool per_tensor_only = true;
    double sparsity = 0.5;  ///< fraction of the currently unpruned weights to prune

    [[nodiscard]] std::vector<layer_plan> plan(prune_context& c) const {
        std::vector<std::size_t> idx;
        for (std::size_t i = 0; i < c.size(); ++i)
            if (c.joint(i)) idx.push_back(i);
        std::vector<layer_plan> p(c.size());
        if (idx.empty()) return p;
        const auto lp = detail::lamp_plan_streamed(
            idx.size(), [&](std::size_t t, auto&& f) { c.with_layer(idx[t], f); },
            [&](std::size_t t) { return c.previous(idx[t]); },
            [&](std::size_t t) -> const nnprune::shape& { return c.shape(idx[t]); }, sparsity, "prune");
        for (std::size_t t = 0; t < idx.size(); ++t) p[idx[t]] = layer_plan::count(lp.prune[t], sparsity);
        return p;
    }
};

}  // namespace nnprune

#endif  // NNPRUNE_ALLOCATION_LAMP_GLOBAL_HPP
