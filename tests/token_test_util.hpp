// Helpers shared by the token-selection tests: slow obvious reference implementations.
#ifndef NNPRUNE_TESTS_TOKEN_TEST_UTIL_HPP
#define NNPRUNE_TESTS_TOKEN_TEST_UTIL_HPP

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace token_test {

inline std::vector<float> random_features(std::size_t n, std::size_t d, unsigned seed, std::size_t duplicates = 0) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g;
    std::vector<float> x(n * d);
    for (auto& v : x) v = g(rng);
    // copy `duplicates` random rows over other rows
    std::uniform_int_distribution<std::size_t> pick(0, n - 1);
    for (std::size_t t = 0; t < duplicates; ++t) {
        const std::size_t a = pick(rng), b = pick(rng);
        for (std::size_t j = 0; j < d; ++j) x[b * d + j] = x[a * d + j];
    }
    return x;
}

/// Cosine distance matrix in double (zero rows: distance 1 to everything).
inline std::vector<double> distance_matrix(const std::vector<float>& x, std::size_t n, std::size_t d) {
    std::vector<double> un(n * d, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        double ss = 0;
        for (std::size_t j = 0; j < d; ++j) ss += double(x[i * d + j]) * x[i * d + j];
        if (ss > 0)
            for (std::size_t j = 0; j < d; ++j) un[i * d + j] = x[i * d + j] / std::sqrt(ss);
    }
    std::vector<double> dm(n * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < n; ++k) {
            double s = 0;
            for (std::size_t j = 0; j < d; ++j) s += un[i * d + j] * un[k * d + j];
            dm[i * n + k] = 1.0 - s;
        }
    return dm;
}

/// Slow obvious max-min greedy over a distance matrix, starting from `order` (seed when empty).
inline std::vector<std::size_t> slow_maxmin(const std::vector<double>& dm, std::size_t n, std::size_t k,
                                            const std::vector<unsigned char>& zero,
                                            std::vector<std::size_t> order = {}) {
    bool all_zero = true;
    for (auto z : zero) all_zero = all_zero && z;
    if (order.empty()) {
        std::size_t seed = 0;
        double best = -1e300;
        for (std::size_t j = 0; j < n; ++j) {
            if (zero[j] && !all_zero) continue;
            double m = std::numeric_limits<double>::infinity();
            for (std::size_t i = 0; i < n; ++i)
                if (i != j) m = std::min(m, dm[i * n + j]);
            if (m > best) best = m, seed = j;
        }
        order.push_back(seed);
    }
    while (order.size() < k) {
        std::size_t arg = n;
        double best = 0;
        for (std::size_t j = 0; j < n; ++j) {
            bool in = false;
            for (auto s : order) in = in || s == j;
            if (in) continue;
            double m = std::numeric_limits<double>::infinity();
            for (auto s : order) m = std::min(m, dm[s * n + j]);
            if (arg == n || m > best) best = m, arg = j;
        }
        order.push_back(arg);
    }
    return order;
}

inline std::vector<unsigned char> zero_rows(const std::vector<float>& x, std::size_t n, std::size_t d) {
    std::vector<unsigned char> z(n, 1);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j)
            if (x[i * d + j] != 0.0f) z[i] = 0;
    return z;
}

/// Indices in a stable descending order of s: the tie rule (equal scores, the lower index first).
template <class S>
std::vector<std::size_t> ranked(const std::vector<S>& s) {
    std::vector<std::size_t> idx(s.size());
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return s[a] > s[b]; });
    return idx;
}

/// The k highest of s as ascending indices, equal scores: the lower index.
template <class S>
std::vector<std::size_t> slow_top(const std::vector<S>& s, std::size_t k) {
    auto idx = ranked(s);
    idx.resize(k);
    std::sort(idx.begin(), idx.end());
    return idx;
}

/// The values converted to element type T (bfloat16, float16, double, ...).
template <class T>
std::vector<T> cast(const std::vector<float>& a) {
    std::vector<T> out(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) out[i] = T(a[i]);
    return out;
}

}  // namespace token_test

#endif
