#ifndef NNPRUNE_SCORERS_LAMP_HPP
#define NNPRUNE_SCORERS_LAMP_HPP

/// @file lamp.hpp
/// LAMP scores (algorithms.md §3): with u_1 <= ... <= u_n the layer's w^2 in stable ascending
/// order, score(u_t) = u_t / sum_{s >= t} u_s. The largest weight scores exactly 1; zeros score 0;
/// an all-zero layer gives NaN (0 / 0), as the reference. Inside one layer LAMP orders like |w|, with
/// ties broken by flat index (the lower index gets the lower score). Sums are taken in double.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <vector>

#include "../config.hpp"
#include "scorer.hpp"

namespace nnprune {

/// LAMP importance of every weight of the layer.
struct lamp_scorer {
    void operator()(const layer& l, matrix_view<float> out) const {
        const std::size_t rows = out.extent(0), cols = out.extent(1), n = rows * cols;
        float* o = out.data_handle();
        detail::visit_matrix(l.weights, [&](auto w) {
            for (std::size_t i = 0; i < rows; ++i) detail::row_to_float(w, i, o + i * cols);
        });
        std::vector<double> u(n);
        for (std::size_t i = 0; i < n; ++i) u[i] = static_cast<double>(o[i]) * static_cast<double>(o[i]);
        std::vector<std::size_t> idx(n);
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return u[a] < u[b]; });
        double suffix = 0.0;
        for (std::size_t t = n; t-- > 0;) {
            suffix += u[idx[t]];
            o[idx[t]] = static_cast<float>(u[idx[t]] / suffix);
        }
    }
};

inline constexpr lamp_scorer lamp{};

static_assert(scorer<lamp_scorer>);

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_LAMP_HPP
