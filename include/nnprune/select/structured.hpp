#ifndef NNPRUNE_SELECT_STRUCTURED_HPP
#define NNPRUNE_SELECT_STRUCTURED_HPP

/// @file structured.hpp
/// Structured groups: 2-D blocks and whole channels (rows or columns), each scored by an
/// aggregate of its scores (accumulated in double, in flat-index order) and pruned whole:
/// exactly k units over the tensor, lower unit index first among equal aggregates.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/tensor_ref.hpp"
#include "../masks/mask.hpp"
#include "../simd/bits.hpp"
#include "group.hpp"
#include "groups.hpp"
#include "options.hpp"

namespace nnprune::detail {

template <class UnitOf>
selection select_units(const tensor_ref& scores, std::size_t n_units, UnitOf unit_of, aggregate by, const amount& a,
                       mask_view out, const select_options& o, std::string_view fn) {
    check_out(scores, out, o.previous, fn);
    NNPRUNE_PRECONDITION(o.previous.size() == 0, detail::str(fn, ": structured groups do not take a previous mask"));
    const std::size_t k = a.k_for(n_units, o.round, fn);
    std::vector<double> acc(n_units, by == aggregate::max ? -std::numeric_limits<double>::infinity() : 0.0);
    std::vector<std::size_t> cnt(by == aggregate::mean ? n_units : 0);
    const error_context err{fn, o.name};
    visit(scores, [&](auto v) {
        for_each_indexed(v, [&](std::size_t i, auto xv) {
            if (is_nan(xv)) throw_nan(err, 0, i);  // structured scores must not be NaN
            const double x = to_double(xv);
            double& s = acc[unit_of(i)];
            switch (by) {
                case aggregate::sum:
                    s += x;
                    break;
                case aggregate::mean:
                    s += x;
                    ++cnt[unit_of(i)];
                    break;
                case aggregate::max:
                    s = std::max(s, x);
                    break;
                case aggregate::l1:
                    s += std::abs(x);
                    break;
                case aggregate::l2:
                    s += x * x;
                    break;
            }
        });
    });
    for (std::size_t u = 0; u < n_units; ++u) {
        if (by == aggregate::mean && cnt[u]) acc[u] /= static_cast<double>(cnt[u]);
        if (by == aggregate::l2) acc[u] = std::sqrt(acc[u]);
    }
    std::vector<std::size_t> order(n_units);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return acc[x] < acc[y]; });
    std::vector<unsigned char> pruned(n_units, 0);
    selection sel;
    sel.kth.push_back(k ? acc[order[k - 1]] : std::numeric_limits<double>::quiet_NaN());
    for (std::size_t t = 0; t < k; ++t) pruned[order[t]] = 1;
    const std::size_t n = scores.size();
    simd::bit_writer w(out.words().data(), 0);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < n; i += 64) {
        const std::size_t m = std::min<std::size_t>(64, n - i);
        std::uint64_t word = 0;
        for (std::size_t b = 0; b < m; ++b) word |= static_cast<std::uint64_t>(!pruned[unit_of(i + b)]) << b;
        kept += static_cast<std::size_t>(std::popcount(word));
        w.push(word, static_cast<unsigned>(m));
    }
    w.finish();
    sel.pruned = n - kept;
    return sel;
}

}  // namespace nnprune::detail

namespace nnprune {

/// Prunes exactly k whole blocks (k from the amount over the number of blocks).
inline selection select_mask(const tensor_ref& scores, const blocks& b, const amount& a, mask_view out,
                             const select_options& o = {}) {
    NNPRUNE_PRECONDITION(b.rows > 0 && b.cols > 0, "select_mask(blocks): block extents must be positive");
    const std::size_t cols = scores.shape().cols();
    // blocks per row and per column, rounded up without overflow (extents up to SIZE_MAX are valid:
    // a block larger than the matrix is one block)
    auto blocks_over = [](std::size_t extent, std::size_t block) { return extent / block + (extent % block != 0); };
    const std::size_t bc = blocks_over(cols, b.cols), br = blocks_over(scores.shape().rows(), b.rows);
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

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_STRUCTURED_HPP
