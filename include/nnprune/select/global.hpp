#ifndef NNPRUNE_SELECT_GLOBAL_HPP
#define NNPRUNE_SELECT_GLOBAL_HPP

/// @file global.hpp
/// One exact selection over many tensors of any shapes and element types, streamed tensor by
/// tensor (never concatenated; candidate memory bounded). Tensors of one element type compare in
/// their own keys; mixed lists compare as doubles. A minimum kept per tensor is met by freezing
/// the tensors the unconstrained threshold would over-prune (they lose exactly their allowance,
/// their lowest elements) and selecting again among the others: the same result as walking the
/// global order and skipping tensors at their limit.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/tensor_ref.hpp"
#include "../masks/mask.hpp"
#include "group.hpp"
#include "options.hpp"

namespace nnprune {

struct global_options : select_options {
    std::size_t min_keep = 0;        ///< every tensor keeps at least this many (capped at its size)
    double min_keep_fraction = 0.0;  ///< ... and at least this fraction of its elements (rounded up)
    /// Per tensor, masks from an earlier round (empty span: none). Only still-kept elements compete.
    std::span<const const_mask_view> previous_masks{};
};

namespace detail {

template <class T, class K>
selection select_global_as(std::span<const tensor_ref> scores, std::size_t k, std::span<const mask_view> outs,
                           const global_options& o, const std::vector<std::size_t>& comp,
                           const std::vector<std::size_t>& cap, bool capped, const error_context& err) {
    const std::size_t T_n = scores.size();
    select_workspace local;
    select_workspace& ws = o.workspace ? *o.workspace : local;
    std::vector<std::vector<run>> runs(T_n);
    std::size_t total = 0;
    for (std::size_t t = 0; t < T_n; ++t) {
        const std::uint64_t* prev =
            o.previous_masks.empty() || o.previous_masks[t].size() == 0 ? nullptr : o.previous_masks[t].words().data();
        append_runs(scores[t], 0, scores[t].size(), prev, outs[t].words().data(), static_cast<std::uint32_t>(t),
                    runs[t]);
        total += scores[t].size();
    }
    auto gather = [&](const std::vector<unsigned char>& active, std::size_t& n_total) {
        std::vector<run> all;
        n_total = 0;
        for (std::size_t t = 0; t < T_n; ++t)
            if (active[t]) {
                all.insert(all.end(), runs[t].begin(), runs[t].end());
                n_total += scores[t].size();
            }
        return all;
    };
    std::vector<unsigned char> active(T_n, 1), frozen(T_n, 0);
    std::size_t k_rem = k, comp_rem = 0;
    for (auto c : comp) comp_rem += c;
    // freeze the tensors the current threshold over-prunes, until none is
    while (capped && k_rem > 0) {
        std::size_t n_total = 0;
        const auto all = gather(active, n_total);
        std::vector<std::vector<run>> parts{all};
        std::vector<std::size_t> eq;
        const auto r = find_kth<K>(parts, n_total, comp_rem, k_rem, o.nans, ws, eq, err);
        std::size_t ties = k_rem - r.below;
        bool any = false;
        for (std::size_t t = 0; t < T_n; ++t) {
            if (!active[t]) continue;
            simd::bracket_counts c;
            std::size_t z = 0;
            bracket_runs<K>(runs[t], r.key, r.key, o.nans, static_cast<K*>(nullptr), z, 0, c);
            const std::size_t mine = std::min(ties, c.inside);
            ties -= mine;
            if (c.below + mine > cap[t]) {
                frozen[t] = 1;
                any = true;
            }
        }
        if (!any) break;
        for (std::size_t t = 0; t < T_n; ++t)
            if (frozen[t] && active[t]) {
                active[t] = 0;
                k_rem -= cap[t];
                comp_rem -= comp[t];
            }
    }
    selection sel;
    K best{};
    bool pruned_any = false;
    std::size_t kept = 0;
    for (std::size_t t = 0; t < T_n; ++t)
        if (frozen[t]) {
            std::vector<std::vector<run>> parts{runs[t]};
            const auto d = select_group<K>(parts, scores[t].size(), comp[t], cap[t], o.nans, ws, err);
            kept += d.kept;
            if (cap[t]) {
                best = pruned_any ? std::max(best, d.kth) : d.kth;
                pruned_any = true;
            }
        }
    std::size_t n_total = 0;
    const auto all = gather(active, n_total);
    if (!all.empty()) {
        const auto parts = split_runs(all, parts_for(n_total, o.threads, std::size_t{1} << 18));
        const auto d = select_group<K>(parts, n_total, comp_rem, k_rem, o.nans, ws, err, o.one_pass);
        kept += d.kept;
        if (k_rem) {
            best = pruned_any ? std::max(best, d.kth) : d.kth;
            pruned_any = true;
        }
    }
    sel.pruned = total - kept;
    sel.kth.push_back(pruned_any ? value_of_key<T>(best) : std::numeric_limits<double>::quiet_NaN());
    return sel;
}

/// What a global selection may prune: per tensor its competing count and allowance (competing
/// minus the minimum kept, capped at its size), and k over all competing elements.
struct global_budget {
    std::vector<std::size_t> comp, cap;
    std::size_t k = 0;
    bool capped = false;  ///< some tensor's allowance is below its competing count
};

/// @throws precondition_error (min_keep_fraction outside [0, 1], an exact count over the
/// competing total, or minimums that leave fewer than k to prune), naming fn.
inline global_budget global_budget_for(std::span<const std::size_t> sizes, std::span<const std::size_t> competing,
                                       const amount& a, const global_options& o, std::string_view fn) {
    NNPRUNE_PRECONDITION(o.min_keep_fraction >= 0.0 && o.min_keep_fraction <= 1.0,
                         detail::str(fn, ": min_keep_fraction must be in [0, 1], got ", o.min_keep_fraction));
    NNPRUNE_CHECK(sizes.size() == competing.size(), shape_error,
                  detail::str(fn, ": ", sizes.size(), " tensor sizes but ", competing.size(), " competing counts"));
    global_budget b;
    b.comp.assign(competing.begin(), competing.end());
    b.cap.resize(sizes.size());
    std::size_t all_comp = 0, capacity = 0;
    for (std::size_t t = 0; t < sizes.size(); ++t) {
        const std::size_t n = sizes[t];
        std::size_t floor_keep =
            std::max(o.min_keep, static_cast<std::size_t>(std::ceil(o.min_keep_fraction * static_cast<double>(n))));
        floor_keep = std::min(floor_keep, n);
        b.cap[t] = b.comp[t] > floor_keep ? b.comp[t] - floor_keep : 0;
        b.capped |= b.cap[t] < b.comp[t];
        all_comp += b.comp[t];
        capacity += b.cap[t];
    }
    b.k = a.k_for(all_comp, o.round, fn);
    NNPRUNE_PRECONDITION(
        b.k <= capacity,
        detail::str(fn, ": ", b.k, " must be pruned but the minimum kept per tensor allows only ", capacity));
    return b;
}

}  // namespace detail

/**
 * @brief One exact selection over many tensors (of any shapes and element types) as if they were
 * concatenated in list order: k from the amount over all competing elements; ties go to the
 * lower (tensor, flat index). With a minimum kept per tensor, elements of a tensor at its limit
 * are skipped and the next lowest elsewhere pruned instead, so exactly k are still pruned.
 * @throws precondition_error when the minimums make k impossible; shape_error on mask mismatches.
 */
inline selection select_global(std::span<const tensor_ref> scores, const amount& a, std::span<const mask_view> outs,
                               const global_options& o = {}) {
    constexpr std::string_view fn = "select_global";
    NNPRUNE_PRECONDITION(!scores.empty(), detail::str(fn, ": no tensors"));
    NNPRUNE_CHECK(outs.size() == scores.size(), shape_error,
                  detail::str(fn, ": ", scores.size(), " score tensors but ", outs.size(), " masks"));
    NNPRUNE_CHECK(
        o.previous_masks.empty() || o.previous_masks.size() == scores.size(), shape_error,
        detail::str(fn, ": ", scores.size(), " score tensors but ", o.previous_masks.size(), " previous masks"));
    const std::size_t T_n = scores.size();
    std::vector<std::size_t> sizes(T_n), competing(T_n);
    bool mixed = false;
    for (std::size_t t = 0; t < T_n; ++t) {
        const const_mask_view prev = o.previous_masks.empty() ? const_mask_view{} : o.previous_masks[t];
        detail::check_out(scores[t], outs[t], prev, fn);
        mixed |= scores[t].dtype() != scores[0].dtype();
        sizes[t] = scores[t].size();
        competing[t] = prev.size() ? prev.count() : sizes[t];
    }
    const auto b = detail::global_budget_for(sizes, competing, a, o, fn);
    const auto& comp = b.comp;
    const auto& cap = b.cap;
    const std::size_t k = b.k;
    const bool capped = b.capped;
    const detail::error_context err{fn, o.name, true};
    if (mixed) return detail::select_global_as<double, std::uint64_t>(scores, k, outs, o, comp, cap, capped, err);
    return detail::with_type(scores[0].dtype(), nullptr, [&](auto tp) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(tp)>>;
        return detail::select_global_as<T, detail::key_of_t<T>>(scores, k, outs, o, comp, cap, capped, err);
    });
}

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_GLOBAL_HPP
