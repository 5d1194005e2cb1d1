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
#include "../core/errors.hpp"
#include "../core/layer.hpp"
#include "../masks/mask.hpp"
#include "../scorers/lamp.hpp"
#include "../scorers/magnitude.hpp"
#include "../select/select.hpp"
#include "allocation.hpp"

namespace nnprune {

struct lamp_global {
    double sparsity = 0.5;  ///< fraction of the currently unpruned weights to prune
};

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
}  // namespace detail

/**
 * @brief The LAMP global plan for weights (any shapes / element types) and optional previous
 * masks (empty span: none). The LAMP scores are computed on the masked weights.
 * @throws precondition_error (no layers, sparsity outside [0, 1], num_surv = 0), shape_error.
 */
[[nodiscard]] inline lamp_plan lamp_global_plan(std::span<const layer> layers, double amount,
                                                std::span<const const_mask_view> previous = {}) {
    constexpr const char* fn = "lamp_global";
    NNPRUNE_PRECONDITION(!layers.empty(), detail::str(fn, ": no layers"));
    detail::check_ratio(amount, fn);
    NNPRUNE_CHECK(previous.empty() || previous.size() == layers.size(), shape_error,
                  detail::str(fn, ": ", layers.size(), " layers but ", previous.size(), " previous masks"));
    lamp_plan plan;
    std::vector<float> all;
    std::vector<score_tensor> scores;
    float total = 0.0f;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const auto& w = layers[l].weights;
        score_tensor masked(w.shape());
        magnitude_scorer{}(layers[l], masked.matrix());
        std::size_t n = w.size();
        if (!previous.empty()) {
            NNPRUNE_CHECK(previous[l].shape() == w.shape(), shape_error,
                          detail::str(fn, ": layer '", layers[l].name, "': previous mask has ", previous[l].shape(),
                                      " elements, weights have ", w.shape()));
            for (std::size_t i = 0; i < w.size(); ++i)
                if (!previous[l].test(i)) masked.data()[i] = 0.0f;
            n = previous[l].count();
        }
        // LAMP of the masked weights (|w| -> w^2 inside the scorer)
        const tensor_view<const float, 2> mv(masked.data(), w.shape().rows(), w.shape().cols());
        score_tensor s(w.shape());
        lamp_scorer{}(layer{layers[l].name, mv, {}, {}}, s.matrix());
        all.insert(all.end(), s.values().begin(), s.values().end());
        scores.push_back(std::move(s));
        plan.unpruned.push_back(n);
        total += static_cast<float>(n);
    }
    const float prod = total * static_cast<float>(1.0 - amount);
    plan.num_surv = static_cast<std::size_t>(detail::round_half_even_f(prod));
    NNPRUNE_PRECONDITION(plan.num_surv >= 1, detail::str(fn, ": sparsity ", amount, " leaves no survivor (num_surv = 0)"));
    NNPRUNE_PRECONDITION(plan.num_surv <= all.size(), detail::str(fn, ": num_surv ", plan.num_surv, " exceeds ", all.size()));
    select_options so;
    so.nans = nan_policy::as_highest;  // 0/0 of an all-zero layer: torch.topk ranks NaN highest
    plan.threshold = kth_smallest(tensor_view<const float, 1>(all.data(), all.size()), all.size() - plan.num_surv + 1, so);
    for (std::size_t l = 0; l < layers.size(); ++l) {
        std::size_t surv = 0;
        for (float v : scores[l].values()) surv += static_cast<double>(v) >= plan.threshold;
        plan.survivors.push_back(surv);
        const std::size_t n = plan.unpruned[l];
        const float a = n ? 1.0f - static_cast<float>(surv) / static_cast<float>(n) : 0.0f;
        // prune.l1_unstructured(amount=float(a)): round(a * n), half-even, in double
        std::size_t k = count_to_prune(n, a < 0.0f ? 0.0 : static_cast<double>(a), rounding::half_even);
        plan.prune.push_back(std::min(k, n));
    }
    return plan;
}

}  // namespace nnprune

#endif  // NNPRUNE_ALLOCATION_LAMP_GLOBAL_HPP
