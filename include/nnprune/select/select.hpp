#ifndef NNPRUNE_SELECT_SELECT_HPP
#define NNPRUNE_SELECT_SELECT_HPP

/// @file select.hpp
/// Exact selection: prune exactly k of the lowest scores in each comparison group and write a
/// bit-packed mask (true = kept). Ties: among equal scores the lower flat index is pruned first
/// (a stable ascending order), for every group kind and thread count.
///
/// THIS FILE HOLDS THE API CONTRACT AND A SLOW REFERENCE IMPLEMENTATION (stable sort per group);
/// the fast engine replaces the bodies, not the signatures.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"
#include "../masks/mask.hpp"
#include "groups.hpp"
#include "policy.hpp"

namespace nnprune {

/// An explicit number pruned per group, instead of a sparsity ratio.
struct exactly {
    std::size_t k = 0;
};

/// How many to prune per group: a sparsity ratio in [0, 1] (rounded by select_options::round) or
/// an exact count. Converts implicitly from both: select_mask(s, per_row{}, 0.5, m) or
/// select_mask(s, per_row{}, nnprune::exactly{3}, m).
class amount {
public:
    amount(double sparsity) : m_ratio(sparsity) {  // NOLINT(google-explicit-constructor)
        NNPRUNE_PRECONDITION(sparsity >= 0.0 && sparsity <= 1.0,
                             detail::str("sparsity must be in [0, 1], got ", sparsity));
    }
    amount(exactly e) noexcept : m_count(e.k), m_is_count(true) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool is_count() const noexcept { return m_is_count; }
    [[nodiscard]] double ratio() const noexcept { return m_ratio; }
    [[nodiscard]] std::size_t count() const noexcept { return m_count; }

    /// k for a group of n competing elements. @throws precondition_error when an exact count exceeds n.
    [[nodiscard]] std::size_t k_for(std::size_t n, rounding r, std::string_view fn) const {
        if (!m_is_count) return count_to_prune(n, m_ratio, r);
        NNPRUNE_PRECONDITION(m_count <= n, detail::str(fn, ": asked to prune exactly ", m_count, " of a group of ", n));
        return m_count;
    }

private:
    double m_ratio = 0.0;
    std::size_t m_count = 0;
    bool m_is_count = false;
};

struct select_options {
    rounding round = rounding::half_even;  ///< k from a ratio (ignored for exact counts)
    nan_policy nans = nan_policy::reject;
    unsigned threads = 1;                   ///< results are identical for every thread count
    /// When it has elements: a mask from an earlier round. Only still-kept elements compete, k is
    /// computed from their number, and already pruned elements stay pruned (torch PruningContainer).
    const_mask_view previous{};
    std::string_view name{};                ///< the tensor's name, for error messages
};

/// What a selection did.
struct selection {
    std::size_t pruned = 0;  ///< elements pruned in the output mask (previously pruned included)
    /// Per group (1 for per_tensor / blocks / channels / global, rows for per_row, columns for
    /// per_column; empty for N:M): the largest score pruned this round, NaN when none was.
    std::vector<double> kth;
};

namespace detail {

/// Total order key of a score under a NaN policy: (class, value); NaN-as-lowest sorts below -Inf.
struct score_key {
    int cls;
    double v;
    friend bool operator<(const score_key& a, const score_key& b) noexcept {
        return a.cls != b.cls ? a.cls < b.cls : a.v < b.v;
    }
};

template <class T>
score_key make_key(T x, nan_policy p, std::size_t index, std::string_view fn, std::string_view name) {
    if (is_nan(x)) {
        NNPRUNE_CHECK(p != nan_policy::reject, value_error,
                      detail::str(fn, ": NaN score at flat index ", index, name.empty() ? "" : " of tensor '", name,
                                  name.empty() ? "" : "'", " (nan_policy::reject)"));
        return {p == nan_policy::as_lowest ? 0 : 2, 0.0};
    }
    return {1, to_double(x)};
}

/// The scores of a ref as keys, in row-major flat order. Validates NaN before anything is written.
inline std::vector<score_key> keys_of(const tensor_ref& scores, nan_policy p, std::string_view fn, std::string_view name) {
    std::vector<score_key> keys(scores.size());
    visit(scores, [&](auto v) {
        for_each_indexed(v, [&](std::size_t i, auto x) { keys[i] = make_key(x, p, i, fn, name); });
    });
    return keys;
}

inline void check_out(const tensor_ref& scores, const_mask_view out, const select_options& o, std::string_view fn) {
    NNPRUNE_CHECK(out.shape() == scores.shape(), shape_error,
                  detail::str(fn, ": mask has ", out.shape(), " elements, scores have ", scores.shape()));
    if (o.previous.size())
        NNPRUNE_CHECK(o.previous.shape() == scores.shape(), shape_error,
                      detail::str(fn, ": previous mask has ", o.previous.shape(), " elements, scores have ", scores.shape()));
}

/// Reference: prune the k lowest (stable) of the given member indices. Returns the largest pruned key value.
inline double prune_lowest(const std::vector<score_key>& keys, std::vector<std::size_t>& members, std::size_t k,
                           std::vector<bool>& pruned) {
    std::stable_sort(members.begin(), members.end(),
                     [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
    double kth = std::numeric_limits<double>::quiet_NaN();
    for (std::size_t t = 0; t < k; ++t) {
        pruned[members[t]] = true;
        const auto& key = keys[members[t]];
        kth = key.cls == 1 ? key.v : std::numeric_limits<double>::quiet_NaN();
    }
    return kth;
}

inline selection write_mask(const std::vector<bool>& pruned, const select_options& o, mask_view out, selection sel) {
    for (std::size_t i = 0; i < pruned.size(); ++i) {
        const bool keep = !pruned[i] && (o.previous.size() == 0 || o.previous.test(i));
        out.set(i, keep);
        sel.pruned += !keep;
    }
    return sel;
}

inline bool competes(const select_options& o, std::size_t i) { return o.previous.size() == 0 || o.previous.test(i); }

/// Shared body of per_tensor / per_row / per_column: groups given as a function of the flat index.
template <class GroupOf>
selection select_groups(const tensor_ref& scores, std::size_t n_groups, GroupOf group_of, const amount& a,
                        mask_view out, const select_options& o, std::string_view fn) {
    check_out(scores, out, o, fn);
    const auto keys = keys_of(scores, o.nans, fn, o.name);
    std::vector<std::vector<std::size_t>> members(n_groups);
    for (std::size_t i = 0; i < keys.size(); ++i)
        if (competes(o, i)) members[group_of(i)].push_back(i);
    std::vector<std::size_t> ks(n_groups);
    for (std::size_t g = 0; g < n_groups; ++g) ks[g] = a.k_for(members[g].size(), o.round, fn);  // validate first
    std::vector<bool> pruned(keys.size());
    selection sel;
    sel.kth.resize(n_groups);
    for (std::size_t g = 0; g < n_groups; ++g) sel.kth[g] = prune_lowest(keys, members[g], ks[g], pruned);
    return write_mask(pruned, o, out, std::move(sel));
}

}  // namespace detail

/**
 * @brief Prunes exactly k of the lowest scores of the whole tensor (k from the amount).
 * @throws shape_error (mask or previous mask shape), value_error (NaN under reject),
 *         precondition_error (sparsity outside [0, 1], exact count too large). Nothing is written then.
 */
inline selection select_mask(const tensor_ref& scores, per_tensor, const amount& a, mask_view out,
                             const select_options& o = {}) {
    return detail::select_groups(scores, 1, [](std::size_t) { return std::size_t{0}; }, a, out, o, "select_mask(per_tensor)");
}

/// Prunes exactly k of the lowest scores of every row (k from the amount and the row's competitors).
inline selection select_mask(const tensor_ref& scores, per_row, const amount& a, mask_view out,
                             const select_options& o = {}) {
    const std::size_t cols = scores.shape().cols();
    return detail::select_groups(scores, scores.shape().rows(), [cols](std::size_t i) { return i / cols; }, a, out, o,
                                 "select_mask(per_row)");
}

/// Prunes exactly k of the lowest scores of every column.
inline selection select_mask(const tensor_ref& scores, per_column, const amount& a, mask_view out,
                             const select_options& o = {}) {
    const std::size_t cols = scores.shape().cols();
    return detail::select_groups(scores, cols, [cols](std::size_t i) { return i % cols; }, a, out, o,
                                 "select_mask(per_column)");
}

/**
 * @brief Keeps the n highest of every m consecutive scores along each row (prunes the m - n
 * lowest, lower index first among ties). Previously pruned elements stay pruned and count
 * towards the group's pruned elements.
 * @throws precondition_error when the row length is not a multiple of m and the tail policy is reject.
 */
inline selection select_mask(const tensor_ref& scores, const n_of_m& g, mask_view out, const select_options& o = {}) {
    constexpr std::string_view fn = "select_mask(n_of_m)";
    NNPRUNE_PRECONDITION(g.m > 0 && g.n <= g.m, detail::str(fn, ": need 0 < m and n <= m, got n=", g.n, " m=", g.m));
    const std::size_t rows = scores.shape().rows(), cols = scores.shape().cols();
    NNPRUNE_PRECONDITION(cols % g.m == 0 || g.tail != nm_tail::reject,
                         detail::str(fn, ": rows of ", scores.shape(), " have ", cols, " elements, not a multiple of m=",
                                     g.m, " (choose nm_tail::keep or nm_tail::pro_rata)"));
    detail::check_out(scores, out, o, fn);
    const auto keys = detail::keys_of(scores, o.nans, fn, o.name);
    std::vector<bool> pruned(keys.size());
    std::vector<std::size_t> members;
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c0 = 0; c0 < cols; c0 += g.m) {
            const std::size_t len = std::min(g.m, cols - c0);
            std::size_t k = g.m - g.n;
            if (len < g.m)
                k = g.tail == nm_tail::keep ? 0 : count_to_prune(len, static_cast<double>(g.m - g.n) / static_cast<double>(g.m));
            members.clear();
            std::size_t already = 0;
            for (std::size_t c = c0; c < c0 + len; ++c) {
                const std::size_t i = r * cols + c;
                if (detail::competes(o, i)) members.push_back(i);
                else ++already;
            }
            detail::prune_lowest(keys, members, k > already ? std::min(k - already, members.size()) : 0, pruned);
        }
    return detail::write_mask(pruned, o, out, selection{});
}

template <std::size_t N, std::size_t M>
selection select_mask(const tensor_ref& scores, keep_n_of_m<N, M> g, mask_view out, const select_options& o = {}) {
    return select_mask(scores, n_of_m{N, M, g.tail}, out, o);
}

namespace detail {

inline double aggregate_of(aggregate by, const std::vector<double>& v) {
    double acc = by == aggregate::max ? -std::numeric_limits<double>::infinity() : 0.0;
    for (double x : v) switch (by) {
            case aggregate::sum:
            case aggregate::mean: acc += x; break;
            case aggregate::max: acc = std::max(acc, x); break;
            case aggregate::l1: acc += std::abs(x); break;
            case aggregate::l2: acc += x * x; break;
        }
    if (by == aggregate::mean && !v.empty()) acc /= static_cast<double>(v.size());
    if (by == aggregate::l2) acc = std::sqrt(acc);
    return acc;
}

/// Structured selection: unit_of maps a flat index to its unit (block or channel); units are
/// scored by the aggregate and exactly k units pruned whole (lower unit index first among ties).
template <class UnitOf>
selection select_units(const tensor_ref& scores, std::size_t n_units, UnitOf unit_of, aggregate by, const amount& a,
                       mask_view out, const select_options& o, std::string_view fn) {
    check_out(scores, out, o, fn);
    NNPRUNE_PRECONDITION(o.previous.size() == 0, detail::str(fn, ": structured groups do not take a previous mask"));
    std::vector<std::vector<double>> vals(n_units);
    visit(scores, [&](auto v) {
        for_each_indexed(v, [&](std::size_t i, auto x) {
            make_key(x, nan_policy::reject, i, fn, o.name);  // structured scores must not be NaN
            vals[unit_of(i)].push_back(to_double(x));
        });
    });
    std::vector<score_key> unit_keys(n_units);
    for (std::size_t u = 0; u < n_units; ++u) unit_keys[u] = {1, aggregate_of(by, vals[u])};
    std::vector<std::size_t> members(n_units);
    std::iota(members.begin(), members.end(), std::size_t{0});
    const std::size_t k = a.k_for(n_units, o.round, fn);
    std::vector<bool> unit_pruned(n_units);
    selection sel;
    sel.kth.push_back(prune_lowest(unit_keys, members, k, unit_pruned));
    std::vector<bool> pruned(scores.size());
    for (std::size_t i = 0; i < pruned.size(); ++i) pruned[i] = unit_pruned[unit_of(i)];
    return write_mask(pruned, o, out, std::move(sel));
}

}  // namespace detail

/// Prunes exactly k whole blocks (k from the amount over the number of blocks).
inline selection select_mask(const tensor_ref& scores, const blocks& b, const amount& a, mask_view out,
                             const select_options& o = {}) {
    NNPRUNE_PRECONDITION(b.rows > 0 && b.cols > 0, "select_mask(blocks): block extents must be positive");
    const std::size_t cols = scores.shape().cols();
    const std::size_t bc = (cols + b.cols - 1) / b.cols, br = (scores.shape().rows() + b.rows - 1) / b.rows;
    return detail::select_units(
        scores, br * bc, [&](std::size_t i) { return (i / cols) / b.rows * bc + (i % cols) / b.cols; }, b.by, a, out, o,
        "select_mask(blocks)");
}

/// Prunes exactly k whole rows (axis 0) or columns (axis 1).
inline selection select_mask(const tensor_ref& scores, const channels& c, const amount& a, mask_view out,
                             const select_options& o = {}) {
    NNPRUNE_PRECONDITION(c.axis <= 1, detail::str("select_mask(channels): axis must be 0 or 1, got ", c.axis));
    const std::size_t cols = scores.shape().cols();
    if (c.axis == 0)
        return detail::select_units(
            scores, scores.shape().rows(), [cols](std::size_t i) { return i / cols; }, c.by, a, out, o,
            "select_mask(channels)");
    return detail::select_units(
        scores, cols, [cols](std::size_t i) { return i % cols; }, c.by, a, out, o, "select_mask(channels)");
}

struct global_options : select_options {
    std::size_t min_keep = 0;        ///< every tensor keeps at least this many (capped at its size)
    double min_keep_fraction = 0.0;  ///< ... and at least this fraction of its elements (rounded up)
    /// Per tensor, masks from an earlier round (empty span: none). Only still-kept elements compete.
    std::span<const const_mask_view> previous_masks{};
};

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
    NNPRUNE_CHECK(o.previous_masks.empty() || o.previous_masks.size() == scores.size(), shape_error,
                  detail::str(fn, ": ", scores.size(), " score tensors but ", o.previous_masks.size(), " previous masks"));
    NNPRUNE_PRECONDITION(o.min_keep_fraction >= 0.0 && o.min_keep_fraction <= 1.0,
                         detail::str(fn, ": min_keep_fraction must be in [0, 1], got ", o.min_keep_fraction));
    struct item {
        detail::score_key key;
        std::size_t t, i;
    };
    std::vector<item> all;
    std::vector<std::size_t> cap(scores.size());  // how many more each tensor may lose
    for (std::size_t t = 0; t < scores.size(); ++t) {
        select_options ot = o;
        ot.previous = o.previous_masks.empty() ? const_mask_view{} : o.previous_masks[t];
        detail::check_out(scores[t], outs[t], ot, fn);
        const auto keys = detail::keys_of(scores[t], o.nans, fn, o.name.empty() ? std::string_view("#" + std::to_string(t)) : o.name);
        std::size_t kept_now = 0;
        for (std::size_t i = 0; i < keys.size(); ++i)
            if (detail::competes(ot, i)) {
                all.push_back({keys[i], t, i});
                ++kept_now;
            }
        const auto n = scores[t].size();
        std::size_t floor_keep = std::max(o.min_keep, static_cast<std::size_t>(std::ceil(o.min_keep_fraction * static_cast<double>(n))));
        floor_keep = std::min(floor_keep, n);
        cap[t] = kept_now > floor_keep ? kept_now - floor_keep : 0;
    }
    const std::size_t k = a.k_for(all.size(), o.round, fn);
    std::size_t capacity = 0;
    for (auto c : cap) capacity += c;
    NNPRUNE_PRECONDITION(k <= capacity, detail::str(fn, ": ", k, " must be pruned but the minimum kept per tensor allows only ", capacity));
    std::stable_sort(all.begin(), all.end(), [](const item& x, const item& y) { return x.key < y.key; });
    std::vector<std::vector<bool>> pruned(scores.size());
    for (std::size_t t = 0; t < scores.size(); ++t) pruned[t].assign(scores[t].size(), false);
    selection sel;
    sel.kth.push_back(std::numeric_limits<double>::quiet_NaN());
    std::size_t done = 0;
    for (const auto& it : all) {
        if (done == k) break;
        if (cap[it.t] == 0) continue;
        --cap[it.t];
        pruned[it.t][it.i] = true;
        sel.kth[0] = it.key.cls == 1 ? it.key.v : std::numeric_limits<double>::quiet_NaN();
        ++done;
    }
    for (std::size_t t = 0; t < scores.size(); ++t) {
        select_options ot = o;
        ot.previous = o.previous_masks.empty() ? const_mask_view{} : o.previous_masks[t];
        sel.pruned += detail::write_mask(pruned[t], ot, outs[t], selection{}).pruned;
    }
    return sel;
}

/**
 * @brief The k-th smallest score (1-based: k = 1 is the minimum) of a tensor, under the NaN
 * policy (NaN as lowest/highest returns NaN when it is the k-th). The input is not modified.
 * @throws precondition_error when k is 0 or larger than the tensor.
 */
inline double kth_smallest(const tensor_ref& scores, std::size_t k, const select_options& o = {}) {
    NNPRUNE_PRECONDITION(k >= 1 && k <= scores.size(),
                         detail::str("kth_smallest: k must be in [1, ", scores.size(), "], got ", k));
    auto keys = detail::keys_of(scores, o.nans, "kth_smallest", o.name);
    std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(k - 1), keys.end());
    const auto& key = keys[k - 1];
    return key.cls == 1 ? key.v : std::numeric_limits<double>::quiet_NaN();
}

/// Flat indices (ascending) of the kept elements of a mask.
[[nodiscard]] inline std::vector<std::size_t> kept_indices(const_mask_view m) {
    std::vector<std::size_t> r;
    r.reserve(m.count());
    for (std::size_t i = 0; i < m.size(); ++i)
        if (m.test(i)) r.push_back(i);
    return r;
}

/// Flat indices (ascending) of the pruned elements of a mask.
[[nodiscard]] inline std::vector<std::size_t> pruned_indices(const_mask_view m) {
    std::vector<std::size_t> r;
    r.reserve(m.pruned());
    for (std::size_t i = 0; i < m.size(); ++i)
        if (!m.test(i)) r.push_back(i);
    return r;
}

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_SELECT_HPP
