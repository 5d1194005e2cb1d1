// Shared by the selection tests: a slow obvious reference (sort everything, take k) and data makers.
#ifndef NNPRUNE_TESTS_SELECT_REFERENCE_HPP
#define NNPRUNE_TESTS_SELECT_REFERENCE_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <nnprune/select/select.hpp>

namespace select_test {

using nnprune::mask;
using nnprune::shape;

// Total order key of a score under a NaN policy, as the spec defines it.
struct okey {
    int cls;
    double v;

    bool operator<(const okey& o) const { return cls != o.cls ? cls < o.cls : v < o.v; }

    bool operator==(const okey& o) const { return cls == o.cls && v == o.v; }
};

inline okey key_of(double x, nnprune::nan_policy p) {
    if (std::isnan(x)) return {p == nnprune::nan_policy::as_lowest ? 0 : 2, 0.0};
    return {1, x};
}

// Slow: prune the k lowest of the members (stable by index), members given in index order.
inline void slow_prune(const std::vector<double>& v, const std::vector<std::size_t>& members, std::size_t k,
                       nnprune::nan_policy p, std::vector<char>& pruned) {
    std::vector<std::size_t> m = members;
    std::stable_sort(m.begin(), m.end(),
                     [&](std::size_t a, std::size_t b) { return key_of(v[a], p) < key_of(v[b], p); });
    for (std::size_t t = 0; t < k; ++t) pruned[m[t]] = 1;
}

inline std::vector<double> quantised(std::size_t n, std::uint32_t seed, int levels = 7) {
    std::mt19937 g(seed);
    std::uniform_int_distribution<int> d(-levels, levels);
    std::vector<double> v(n);
    for (auto& x : v) x = d(g) * 0.25;
    return v;
}

template <class T>
inline std::vector<T> as(const std::vector<double>& v) {
    std::vector<T> r(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) r[i] = static_cast<T>(v[i]);
    return r;
}

inline mask slow_mask(const std::vector<double>& v, const shape& s, const std::vector<std::vector<std::size_t>>& groups,
                      double sparsity, nnprune::rounding r, nnprune::nan_policy p, const mask* prev) {
    std::vector<char> pruned(v.size(), 0);
    for (const auto& g : groups) {
        std::vector<std::size_t> comp;
        for (auto i : g)
            if (!prev || prev->test(i)) comp.push_back(i);
        slow_prune(v, comp, nnprune::count_to_prune(comp.size(), sparsity, r), p, pruned);
    }
    mask m(s);
    for (std::size_t i = 0; i < v.size(); ++i) m.set(i, !pruned[i] && (!prev || prev->test(i)));
    return m;
}

inline std::vector<std::vector<std::size_t>> row_groups(std::size_t rows, std::size_t cols) {
    std::vector<std::vector<std::size_t>> g(rows);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) g[r].push_back(r * cols + c);
    return g;
}

inline std::vector<std::vector<std::size_t>> col_groups(std::size_t rows, std::size_t cols) {
    std::vector<std::vector<std::size_t>> g(cols);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) g[c].push_back(r * cols + c);
    return g;
}

struct tuning_guard {
    nnprune::detail::engine_tuning saved = nnprune::detail::tuning();

    ~tuning_guard() { nnprune::detail::tuning() = saved; }
};

}  // namespace select_test

#endif  // NNPRUNE_TESTS_SELECT_REFERENCE_HPP
