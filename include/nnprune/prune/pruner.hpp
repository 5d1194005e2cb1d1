#ifndef NNPRUNE_PRUNE_PRUNER_HPP
#define NNPRUNE_PRUNE_PRUNER_HPP

/// @file pruner.hpp
/// Gradual / iterative pruning inside a training loop. Call step() once per training step, after
/// the optimizer update: at the schedule's pruning steps it rescores the layers, prunes among the
/// still-kept weights up to the schedule's target (pruned weights stay pruned), and at every step
/// it re-applies the masks (the optimizer may have moved pruned weights off zero).
///   nnprune::pruner p(nnprune::magnitude, nnprune::polynomial_schedule{0.0, 0.8, 0, 1000, 3, 100});
///   for (step...) { train_step(); p.step(layers); }
/// The pruner owns only values (masks, the step count, the schedule); the layers are passed in at
/// every call, and state() / restore() extract and restore everything it holds.
/// Its third parameter is a pattern (select/pattern.hpp, one that declares group_elements) or a
/// joint allocation (global, lamp_global: one selection over all layers); the fourth, for
/// patterns, an allocation with a `sparsity` member set to the schedule's target at each pruning
/// step (uniform, owl, or a user's, e.g. ERK): each layer then prunes up to the allocation's
/// sparsity of each comparison group among its still-kept weights.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../allocation/allocation.hpp"
#include "../config.hpp"
#include "../schedules/schedule.hpp"
#include "prune.hpp"

namespace nnprune {

/// The pruner's name for the global allocation (one exact threshold over all layers).
using global_scope = global;

/// Everything a pruner holds (what io/ serialises): the next step, and one named mask per layer.
struct pruner_state {
    std::int64_t step = 0;
    std::vector<std::string> names;
    std::vector<mask> masks;  ///< empty until the first step
    double last_target = 0.0;
};

/// What one step() did.
struct step_report {
    std::int64_t step = 0;
    bool pruned = false;  ///< a pruning step (masks were recomputed)
    double target = 0.0;  ///< the schedule's target at this step
    prune_result result;  ///< masks' reports (masks left empty to avoid copies: see state())
};

namespace detail {
/// An allocation whose sparsity can be set to a schedule's target.
template <class A>
concept retargetable = (allocation<A> || joint_allocation<A>)&&requires(A a) {
    a.sparsity = 0.5;
};

/**
 * The pruner's allocation at one step: the user's allocation (its sparsity set to the target)
 * gives each layer an absolute sparsity per comparison group; this turns it into the exact count
 * still to prune among the group's kept weights (want - already pruned; the groups of a layer
 * have equal pruned counts after every step, since each step prunes exact counts per group).
 */
template <class A, class P>
struct relative_to_previous {
    const A& base;
    const P& pattern;

    [[nodiscard]] std::vector<layer_plan> plan(prune_context& c) const {
        auto plan = base.plan(c);
        for (std::size_t i = 0; i < plan.size() && i < c.size(); ++i) {
            if (!plan[i].prune || plan[i].prune->is_count()) continue;
            const auto& sh = c.shape(i);
            const std::size_t group = pattern_traits<P>::group_elements(pattern, sh);
            const std::size_t groups = group ? sh.numel() / group : 0;
            const std::size_t want = count_to_prune(group, plan[i].prune->ratio(), c.options().round);
            const auto prev = c.previous(i);
            const std::size_t already = !prev.size() || groups == 0 ? 0 : prev.pruned() / groups;
            plan[i].prune = exactly{want > already ? want - already : 0};
        }
        return plan;
    }
};
}  // namespace detail

template <scorer S, schedule Sch, class Pattern = per_tensor, class Alloc = uniform>

requires((joint_allocation<Pattern> && detail::retargetable<Pattern>) ||
         (amount_pattern<Pattern> && pattern_traits<Pattern>::has_groups && detail::retargetable<Alloc>)) class pruner {
public:
    pruner(S s, Sch sch, Pattern p = {}, prune_options o = {}, Alloc a = {})
        : m_scorer(std::move(s)),
          m_schedule(std::move(sch)),
          m_pattern(p),
          m_options(std::move(o)),
          m_alloc(std::move(a)) {
        if constexpr (requires { m_schedule.validate(); }) m_schedule.validate();
        NNPRUNE_PRECONDITION(m_options.previous.empty(),
                             "pruner: pass earlier masks with restore(), not options.previous");
    }

    [[nodiscard]] const pruner_state& state() const noexcept { return m_state; }

    [[nodiscard]] const Sch& schedule_() const noexcept { return m_schedule; }

    /// Restores a state (e.g. loaded from a mask file); its names and shapes are checked at the next step().
    void restore(pruner_state st) { m_state = std::move(st); }

    /**
     * @brief One training step: prune if the schedule says so, then apply every mask in place.
     * @throws (before any write) on layers that do not match the state (names, shapes), and
     *         everything prune() throws.
     */
    step_report step(std::span<const layer> layers) {
        constexpr const char* fn = "pruner::step";
        NNPRUNE_PRECONDITION(!layers.empty(), detail::str(fn, ": empty layer list"));
        check_layers(layers, fn);
        step_report rep;
        rep.step = m_state.step;
        rep.target = static_cast<double>(m_schedule(m_state.step));
        std::vector<mask> next;
        if (m_schedule.should_prune(m_state.step)) {
            rep.pruned = true;
            auto res = prune_to(layers, rep.target);
            next = std::move(res.masks);
            rep.result = std::move(res);
        }
        // everything validated and computed: now write
        if (rep.pruned) {
            m_state.masks = std::move(next);
            m_state.last_target = rep.target;
            if (m_state.names.empty())
                for (const auto& l : layers) m_state.names.push_back(l.name);
        }
        reapply(layers);
        ++m_state.step;
        return rep;
    }

    /// Zeroes the pruned weights again (e.g. after an optimizer update outside step()).
    void reapply(std::span<const layer> layers) const {
        if (m_state.masks.empty()) return;
        check_layers(layers, "pruner::reapply");
        for (std::size_t i = 0; i < layers.size(); ++i)
            NNPRUNE_PRECONDITION(!layers[i].weights.readonly(),
                                 detail::str("pruner::reapply: layer '", layers[i].name, "': weights are read-only"));
        for (std::size_t i = 0; i < layers.size(); ++i) apply(layers[i].weights, m_state.masks[i]);
    }

    step_report step(const std::vector<layer>& layers) { return step(std::span<const layer>(layers)); }

    void reapply(const std::vector<layer>& layers) const { reapply(std::span<const layer>(layers)); }

private:
    void check_layers(std::span<const layer> layers, const char* fn) const {
        if (m_state.masks.empty()) return;
        NNPRUNE_CHECK(
            layers.size() == m_state.masks.size(), shape_error,
            detail::str(fn, ": ", layers.size(), " layers, the pruner holds ", m_state.masks.size(), " masks"));
        for (std::size_t i = 0; i < layers.size(); ++i) {
            NNPRUNE_PRECONDITION(
                m_state.names.size() != layers.size() || m_state.names[i] == layers[i].name,
                detail::str(fn, ": layer ", i, " is '", layers[i].name, "', the pruner's is '", m_state.names[i], "'"));
            NNPRUNE_CHECK(m_state.masks[i].shape() == layers[i].weights.shape(), shape_error,
                          detail::str(fn, ": layer '", layers[i].name, "': mask has ", m_state.masks[i].shape(),
                                      " elements, weights have ", layers[i].weights.shape()));
        }
    }

    // prune among still-kept weights so that the total pruned reaches the target
    prune_result prune_to(std::span<const layer> layers, double target) {
        std::vector<const_mask_view> prev;
        for (const auto& m : m_state.masks) prev.push_back(m.view());
        prune_options o = m_options;
        o.previous = prev;
        o.apply = o.reconstruct.writes_weights();  // else step() applies the masks after prune()
        if (!o.scratch) o.scratch = &m_scratch;    // the pruner's own reusable score buffer
        if constexpr (joint_allocation<Pattern>) {
            std::size_t total = 0, pruned = 0;
            for (std::size_t i = 0; i < layers.size(); ++i) {
                total += layers[i].weights.size();
                pruned += prev.empty() ? 0 : prev[i].pruned();
            }
            const std::size_t want = count_to_prune(total, target, o.round);
            const std::size_t remaining = total - pruned;
            const double rel =
                remaining ? static_cast<double>(want > pruned ? want - pruned : 0) / static_cast<double>(remaining)
                          : 0.0;
            // exact count via the ratio of the remaining weights, rounded back by half_even: use
            // an exact-fraction ratio so that round(rel * remaining) == want - pruned
            o.round = rounding::half_even;
            Pattern g = m_pattern;
            g.sparsity = std::min(rel, 1.0);
            return prune(layers, m_scorer, per_tensor{}, g, o);
        } else {
            Alloc a = m_alloc;
            a.sparsity = target;
            return prune(layers, m_scorer, m_pattern, detail::relative_to_previous<Alloc, Pattern>{a, m_pattern}, o);
        }
    }

    S m_scorer;
    Sch m_schedule;
    Pattern m_pattern;
    prune_options m_options;
    Alloc m_alloc;
    pruner_state m_state;
    std::vector<float> m_scratch;  // score buffer reused across pruning steps (not state)
};

}  // namespace nnprune

#endif  // NNPRUNE_PRUNE_PRUNER_HPP
