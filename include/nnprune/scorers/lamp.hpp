#ifndef NNPRUNE_SCORERS_LAMP_HPP
#define NNPRUNE_SCORERS_LAMP_HPP

/// @file lamp.hpp
/// LAMP scores (algorithms.md §3): with u_1 <= ... <= u_n the layer's w^2 in stable ascending
/// order, score(u_t) = u_t / sum_{s >= t} u_s. The largest weight scores exactly 1; zeros score 0;
/// an all-zero layer gives NaN (0 / 0), as the reference. Inside one layer LAMP orders like |w|, with
/// ties broken by flat index (the lower index gets the lower score). Sums are taken in double.
/// Memory: 8 bytes per weight of sort keys (|w|'s bits and the index in one 64-bit word, sorted in
/// place), in a per-thread buffer reused from layer to layer (it keeps the largest layer's size).

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "../config.hpp"
#include "../core/buffer.hpp"
#include "scorer.hpp"

namespace nnprune {

namespace detail {

/**
 * Replaces the n magnitudes |w| (>= 0, as floats) in o by their LAMP scores. The stable order of
 * w^2 is the order of (|w|'s bits, index): one 64-bit key per weight, sorted in place. u = |w|^2
 * is exact in double, and the suffix sums run in the same order as a stable sort of u would.
 */
inline void lamp_in_place(float* o, std::size_t n) {
    if (n > std::size_t{0xFFFFFFFF}) {  // indices past 32 bits: an index sort (24 bytes per weight)
        std::vector<std::size_t> idx(n);
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::stable_sort(idx.begin(), idx.end(),
                         [&](std::size_t a, std::size_t b) { return std::fabs(o[a]) < std::fabs(o[b]); });
        double suffix = 0.0;
        for (std::size_t t = n; t-- > 0;) {
            const double u = static_cast<double>(o[idx[t]]) * static_cast<double>(o[idx[t]]);
            suffix += u;
            o[idx[t]] = static_cast<float>(u / suffix);
        }
        return;
    }
    thread_local std::vector<std::uint64_t> keys;  // reused: no fresh pages after the largest layer
    grow_buffer(keys, n);
    for (std::size_t i = 0; i < n; ++i)
        keys[i] = std::uint64_t{std::bit_cast<std::uint32_t>(std::fabs(o[i]))} << 32 | i;
    std::sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(n));
    double suffix = 0.0;
    for (std::size_t t = n; t-- > 0;) {
        const auto i = static_cast<std::size_t>(keys[t] & 0xFFFFFFFFu);
        const double a = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(keys[t] >> 32)));
        const double u = a * a;
        suffix += u;
        o[i] = static_cast<float>(u / suffix);
    }
}

}  // namespace detail

/// LAMP importance of every weight of the layer.
struct lamp_scorer {
    void operator()(const layer& l, matrix_view<float> out) const {
        const std::size_t rows = out.extent(0), cols = out.extent(1);
        float* o = out.data_handle();
        detail::visit_matrix(l.weights, [&](auto w) {
            for (std::size_t i = 0; i < rows; ++i) detail::row_to_float(w, i, o + i * cols);
        });
        detail::lamp_in_place(o, rows * cols);
    }
};

inline constexpr lamp_scorer lamp{};

static_assert(scorer<lamp_scorer>);

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_LAMP_HPP
