#ifndef NNPRUNE_PRUNE_PRUNE_HPP
#define NNPRUNE_PRUNE_PRUNE_HPP

/// @file prune.hpp
/// One-shot pruning of named layers:
///   auto r = nnprune::prune(layers, nnprune::wanda, nnprune::per_row{}, 0.5, opts);
///   auto r = nnprune::prune(layers, nnprune::magnitude, nnprune::per_tensor{}, nnprune::global{0.7});
///   auto r = nnprune::prune(layers, nnprune::wanda, nnprune::wanda_n_of_m(2, 4));
///   auto r = nnprune::prune(my_source, nnprune::magnitude, my_pattern{}, my_allocation{0.8}, opts);
/// The layers come from a layer source (layer_source.hpp: one layer acquired at a time; a span or
/// vector of layers is one); the scorer scores each layer (scorers/scorer.hpp); the allocation
/// decides each layer's amount, or selects jointly (allocation/plan.hpp); the pattern's
/// select_mask picks the mask within each comparison group (select/pattern.hpp). All four are open:
/// a user's type that models the concept works like the built-in ones.
///
/// The driver: structural checks (names, shapes, previous masks, the pattern) before any layer is
/// acquired; with apply, a validation pass unless the source stages its writes; the allocation's
/// plan or joint selection (which may score layers through the context); then one pass in index
/// order that selects each remaining layer, zeroes it (apply) when nothing later can fail, reports
/// it to options.on_layer and releases it; else a separate apply pass. Nothing is written when
/// prune() throws (see layer_source.hpp for the exact contract).

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../allocation/allocation.hpp"
#include "../allocation/lamp_global.hpp"
#include "../allocation/layer_filter.hpp"
#include "../allocation/owl.hpp"
#include "../allocation/plan.hpp"
#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/layer.hpp"
#include "../masks/apply.hpp"
#include "../masks/mask.hpp"
#include "../scorers/scorer.hpp"
#include "../scorers/wanda_variant.hpp"
#include "../select/pattern.hpp"
#include "../select/select.hpp"
#include "context.hpp"
#include "layer_source.hpp"
#include "options.hpp"
#include "report.hpp"
#include "scratch.hpp"
#include "select_layer.hpp"
#include "validate.hpp"

namespace nnprune {

namespace detail {

template <class Src>
layer_index index_source(const Src& src, const prune_options& o) {
    layer_index x;
    const std::size_t n = src.size();
    for (std::size_t i = 0; i < n; ++i) {
        x.names.emplace_back(src.name(i));
        x.shapes.emplace_back(src.shape(i));
    }
    x.choices = resolve(o.filter, x.names);
    return x;
}

/// Layer i's starting mask: all kept, or the previous round's.
inline void start_mask(mask& m, const layer_index& x, const prune_options& o, std::size_t i) {
    m.reset(x.shapes[i], true);
    if (!o.previous.empty()) m.view().and_with(o.previous[i]);
}

/// Every layer's starting mask, in r.masks.
inline void start_masks(prune_result& r, const layer_index& x, const prune_options& o) {
    r.masks.resize(x.names.size());
    for (std::size_t i = 0; i < x.names.size(); ++i) start_mask(r.masks[i], x, o, i);
}

/// The reports (and, with `masks`, the starting masks) of every layer.
inline prune_result start_result(const layer_index& x, const prune_options& o, bool masks) {
    prune_result r;
    if (masks) start_masks(r, x, o);
    for (std::size_t i = 0; i < x.names.size(); ++i) {
        layer_report rep;
        rep.name = x.names[i];
        rep.elements = x.shapes[i].numel();
        rep.target = std::numeric_limits<double>::quiet_NaN();
        rep.excluded = x.choices[i].excluded;
        r.layers.push_back(std::move(rep));
    }
    return r;
}

inline select_options select_opts(const prune_options& o, std::size_t i, std::string_view name, select_workspace& ws) {
    select_options so;
    so.round = o.round;
    so.nans = o.nans;
    so.threads = o.threads;
    so.one_pass = true;  // the masks are prune()'s own until it returns: one read of the scores
    so.previous = o.previous.empty() ? const_mask_view{} : o.previous[i];
    so.name = name;
    so.workspace = &ws;
    return so;
}

/// The layer_filter on top of an allocation's plan: excluded layers stay as they are, overrides
/// prune their own ratio.
inline void apply_filter(std::vector<layer_plan>& plan, const layer_index& x) {
    for (std::size_t i = 0; i < plan.size(); ++i) {
        if (x.choices[i].excluded)
            plan[i] = layer_plan::excluded();
        else if (x.choices[i].sparsity)
            plan[i] = layer_plan::ratio(*x.choices[i].sparsity);
    }
}

inline void finish_report(layer_report& rep, const mask& m) {
    rep.kept = m.count();
    rep.sparsity = m.sparsity();
}

template <layer_source Src, scorer S, pattern P, class A>
prune_result prune_source(Src& src, const S& s, const P& p, const A& alloc, const prune_options& o) {
    constexpr const char* fn = "prune";
    static_assert(allocation<A> || joint_allocation<A>,
                  "prune: the allocation needs plan(ctx) or select(ctx, masks, reports)");
    static_assert(!per_tensor_only<A> || std::is_same_v<P, per_tensor>,
                  "prune: global and lamp_global allocations need the per_tensor pattern");
    NNPRUNE_PRECONDITION(src.size() > 0, detail::str(fn, ": empty layer list"));
    const layer_index x = index_source(src, o);
    validate_structure<P>(x.names, x.shapes, p, o, fn);
    const std::size_t n = x.names.size();
    layer_checks checks(n);
    score_pool pool(o.scratch);
    source_context<Src, S> ctx(src, s, o, x, checks, pool, fn);
    const reconstruct_step& step = o.reconstruct;
    NNPRUNE_PRECONDITION(!step.writes_weights() || o.apply,
                         str(fn, ": the reconstruction step updates weights: set prune_options::apply"));
    NNPRUNE_PRECONDITION(!step.chooses_mask() || !joint_allocation<A>,
                         str(fn, ": a reconstruction step that chooses its masks cannot follow a joint allocation"));
    const std::pair<std::size_t, std::size_t> nm = pattern_n_of_m(p);
    auto step_context = [&](std::size_t i, const std::optional<amount>& a) {
        return reconstruct_context{i, a.value_or(amount(0.0)), nm.first, nm.second, o.round, o.threads};
    };
    constexpr bool staged = layer_source_traits<Src>::stages_writes;
    if (o.apply && !staged)  // validate before mutate: every layer checked before the first write
        for (std::size_t i = 0; i < n; ++i)
            ctx.with_layer(i, [&](const layer& l) {
                if (step) step.validate(l, step_context(i, std::nullopt));
            });

    prune_result r = start_result(x, o, o.keep_masks || joint_allocation<A>);
    std::vector<layer_plan> plan(n);
    std::vector<char> decided(n, 0);  // masks the joint allocation selected
    if constexpr (joint_allocation<A>) {
        std::vector<mask_view> views;
        for (auto& m : r.masks) views.push_back(m.view());
        alloc.select(ctx, views, r.layers);
        for (std::size_t i = 0; i < n; ++i) decided[i] = ctx.joint(i);
    } else {
        plan = alloc.plan(ctx);
        NNPRUNE_PRECONDITION(plan.size() == n,
                             detail::str(fn, ": the allocation planned ", plan.size(), " layers of ", n));
    }
    apply_filter(plan, x);
    for (std::size_t i = 0; i < n; ++i)
        if (!decided[i] && plan[i].prune) r.layers[i].target = plan[i].target;

    // Zeroing while selecting is safe when nothing later can throw: the source discards on error,
    // or the pattern throws only on NaN scores, every count and matrix view was checked, and NaN scores rank
    // instead of throwing or (validated) cannot appear. With a reconstruction step each layer is
    // finished (selected, reconstructed, zeroed) before the next: a step that fails numerically in
    // layer i leaves the layers before it done and the rest untouched (a staging source: nothing).
    bool selecting = false;
    for (std::size_t i = 0; i < n; ++i) selecting |= !decided[i] && plan[i].prune.has_value();
    const bool counts_checked = check_counts(p, plan, x.names, x.shapes, o, fn);
    const bool safe = pattern_traits<P>::throws_only_on_nan && counts_checked && checks.matrices() &&
                      (o.nans != nan_policy::reject || checks.surely_finite());
    const bool zero_now = o.apply && (staged || !selecting || safe || step);
    if (r.masks.empty() && o.apply && !zero_now) start_masks(r, x, o);  // the writes come after every selection
    mask reused;                                                        // layer i's mask when r.masks is empty
    auto layer_mask = [&](std::size_t i) -> mask& {
        if (!r.masks.empty()) return r.masks[i];
        start_mask(reused, x, o, i);
        return reused;
    };
    select_workspace ws;
    for (std::size_t i = 0; i < n; ++i) {
        const bool pruned = decided[i] || plan[i].prune.has_value();
        const bool select = !decided[i] && plan[i].prune.has_value() && x.shapes[i].numel() != 0;
        const bool recon = step && pruned && x.shapes[i].numel() != 0;
        mask& m = layer_mask(i);
        if (select || zero_now || recon) {
            acquired<Src> a(src, i);
            const layer& l = a.get();
            ctx.check(i, l);
            if (select && !step.chooses_mask())
                r.layers[i].kth_score = select_layer(s, l, p, *plan[i].prune, m.view(),
                                                     select_opts(o, i, x.names[i], ws), zero_now && !recon, pool, ws);
            if (recon) {
                const reconstruct_context c = step_context(i, plan[i].prune);
                if (!o.apply || staged) step.validate(l, c);  // (else validated up front)
                step(l, m.view(), c);
                if (zero_now) apply(l.weights, m);
            } else if (!select && zero_now) {
                apply(l.weights, m);
            }
            finish_report(r.layers[i], m);
            if (zero_now && o.on_layer) o.on_layer(i, m.view(), r.layers[i]);
            a.release(zero_now);
        } else {
            finish_report(r.layers[i], m);
        }
        if (!o.apply && o.on_layer) o.on_layer(i, m.view(), r.layers[i]);
    }
    if (o.apply && !zero_now)  // every mask selected: now write
        for (std::size_t i = 0; i < n; ++i) {
            acquired<Src> a(src, i);
            apply(a.get().weights, r.masks[i]);
            if (o.on_layer) o.on_layer(i, r.masks[i].view(), r.layers[i]);
            a.release(true);
        }
    if (!o.keep_masks) r.masks = {};
    return r;
}

/// Fixed patterns (N:M) decide their own amount: every layer takes part.
struct whole_pattern {
    [[nodiscard]] std::vector<layer_plan> plan(prune_context& c) const {
        return std::vector<layer_plan>(c.size(),
                                       layer_plan{nnprune::amount(0.0), std::numeric_limits<double>::quiet_NaN()});
    }
};

}  // namespace detail

/**
 * @brief Prunes the layers of `layers` (a layer_source, or a span / vector of layers) scored by
 * `s`, under pattern `p`, with each layer's amount from allocation `a` (uniform, per_layer, owl,
 * global, lamp_global, or a user's model of allocation / joint_allocation).
 * @throws precondition_error, shape_error, value_error; nothing is written then.
 */
template <class Src, scorer S, pattern P, class A>

requires(layers_or_source<Src> && (allocation<A> || joint_allocation<A>)) prune_result
    prune(Src&& layers, const S& s, const P& p, const A& a, const prune_options& o = {}) {
    auto&& src = detail::source_of(std::forward<Src>(layers));
    return detail::prune_source(src, s, p, a, o);
}

/// Every layer at the same sparsity.
template <class Src, scorer S, amount_pattern P>

requires layers_or_source<Src> prune_result prune(Src&& layers, const S& s, const P& p, double sparsity,
                                                  const prune_options& o = {}) {
    return prune(std::forward<Src>(layers), s, p, uniform{sparsity}, o);
}

/**
 * @brief N:M pruning (n_of_m / keep_n_of_m name what is KEPT; wanda_n_of_m() converts Wanda's
 * "prune_n:prune_m"), or any pattern that fixes its own amount. Layers matched by the filter's
 * exclude patterns stay dense.
 */
template <class Src, scorer S, fixed_pattern P>

requires layers_or_source<Src> prune_result prune(Src&& layers, const S& s, const P& p, const prune_options& o = {}) {
    return prune(std::forward<Src>(layers), s, p, detail::whole_pattern{}, o);
}

}  // namespace nnprune

#endif  // NNPRUNE_PRUNE_PRUNE_HPP
