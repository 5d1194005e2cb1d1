#ifndef NNPRUNE_ALLOCATION_PLAN_HPP
#define NNPRUNE_ALLOCATION_PLAN_HPP

/// @file plan.hpp
/// The allocation concept: how a model-wide target becomes each layer's amount.
///  - An `allocation` has `std::vector<layer_plan> plan(prune_context&) const`: one plan per
///    layer, an amount (a ratio, or an exact count per comparison group of the pattern) or
///    excluded. It may read the layers' shapes, names, previous masks and the filter's choices
///    from the context, and ask for a layer's scores lazily (ctx.scores(i, f) scores layer i on
///    demand and hands them to f; reduce them to what you need, nothing stays resident).
///  - A `joint_allocation` has `void select(prune_context&, std::span<const mask_view> masks,
///    std::span<layer_report> reports) const` instead: it selects the masks of the layers it
///    decides (ctx.joint(i)) itself, jointly, and sets their reports' kth_score and target.
/// prune() applies the layer_filter on top of a plan (excluded layers stay as they are, overrides
/// prune their own ratio), so an allocation may ignore it unless it pools layers (owl, global).

#include <concepts>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/layer.hpp"
#include "../core/shape.hpp"
#include "../masks/mask.hpp"
#include "../prune/options.hpp"
#include "../prune/report.hpp"
#include "../scorers/scorer.hpp"
#include "../select/options.hpp"
#include "layer_filter.hpp"

namespace nnprune {

/// One layer's share of the allocation.
struct layer_plan {
    std::optional<nnprune::amount> prune;  ///< per comparison group; nullopt: the layer is left as it is
    double target = std::numeric_limits<double>::quiet_NaN();  ///< the sparsity reported as its target

    [[nodiscard]] static layer_plan ratio(double s) { return {nnprune::amount(s), s}; }
    [[nodiscard]] static layer_plan count(std::size_t k, double target = std::numeric_limits<double>::quiet_NaN()) {
        return {nnprune::amount(exactly{k}), target};
    }
    [[nodiscard]] static layer_plan excluded() { return {}; }
};

/// What an allocation sees of the prune call (prune() implements it over its layer source).
class prune_context {
public:
    prune_context() = default;
    prune_context(const prune_context&) = delete;
    prune_context& operator=(const prune_context&) = delete;
    virtual ~prune_context() = default;

    [[nodiscard]] virtual std::size_t size() const noexcept = 0;
    [[nodiscard]] virtual std::string_view name(std::size_t i) const = 0;
    [[nodiscard]] virtual const nnprune::shape& shape(std::size_t i) const = 0;
    /// Layer i's mask from an earlier round (size 0: none).
    [[nodiscard]] virtual const_mask_view previous(std::size_t i) const = 0;
    /// The layer_filter's choice for layer i.
    [[nodiscard]] virtual const layer_choice& choice(std::size_t i) const = 0;
    [[nodiscard]] virtual const prune_options& options() const noexcept = 0;
    /// Scores layer i with prune()'s scorer (acquiring it from the source, validating it the
    /// first time) and calls f with the scores; they live until f returns.
    virtual void scores(std::size_t i, const std::function<void(const score_tensor&)>& f) = 0;
    /// Calls f with layer i acquired (validated the first time), e.g. to read its weights.
    virtual void with_layer(std::size_t i, const std::function<void(const layer&)>& f) = 0;

    /// Elements of layer i that compete (still kept by its previous mask).
    [[nodiscard]] std::size_t competing(std::size_t i) const {
        const auto p = previous(i);
        return p.size() ? p.count() : shape(i).numel();
    }
    /// Whether layer i is the allocation's to decide in a joint selection (not excluded, no override).
    [[nodiscard]] bool joint(std::size_t i) const {
        const auto& c = choice(i);
        return !c.excluded && !c.sparsity;
    }
};

template <class A>
concept allocation = requires(const A& a, prune_context& c) {
    { a.plan(c) } -> std::convertible_to<std::vector<layer_plan>>;
};

template <class A>
concept joint_allocation = requires(const A& a, prune_context& c, std::span<const mask_view> m, std::span<layer_report> r) {
    a.select(c, m, r);
};

/// Allocations that only make sense with the per_tensor pattern (global thresholds, exact
/// per-layer counts): `static constexpr bool per_tensor_only = true;`.
template <class A>
inline constexpr bool per_tensor_only = [] {
    if constexpr (requires { A::per_tensor_only; }) return static_cast<bool>(A::per_tensor_only);
    else return false;
}();

}  // namespace nnprune

#endif  // NNPRUNE_ALLOCATION_PLAN_HPP
