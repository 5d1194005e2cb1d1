// Shared helpers for the scorer / allocation / prune tests (not a test file itself).
#ifndef NNPRUNE_TESTS_PRUNE_TEST_UTIL_HPP
#define NNPRUNE_TESTS_PRUNE_TEST_UTIL_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <nnprune/core/layer.hpp>
#include <nnprune/core/tensor_view.hpp>
#include <nnprune/masks/mask.hpp>
#include <nnprune/scorers/random.hpp>

namespace test_util {

/// Deterministic values in [-1, 1) (our own generator, so the data is the same everywhere).
inline std::vector<float> values(std::size_t n, std::uint64_t seed) {
    nnprune::splitmix64 g(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = g.uniform() * 2.0f - 1.0f;
    return v;
}

/// Values quantised to a few levels, so there are many exact ties.
inline std::vector<float> tied_values(std::size_t n, std::uint64_t seed, int levels = 4) {
    nnprune::splitmix64 g(seed);
    std::vector<float> v(n);
    for (auto& x : v)
        x = static_cast<float>(static_cast<int>(g.uniform() * static_cast<float>(levels)) - levels / 2) * 0.5f;
    return v;
}

inline nnprune::layer make_layer(const char* name, std::vector<float>& w, std::size_t rows, std::size_t cols) {
    return nnprune::layer{name, nnprune::matrix_view<float>(w.data(), rows, cols), {}, {}};
}

template <class T>
std::vector<unsigned char> bytes_of(const std::vector<T>& v) {
    std::vector<unsigned char> b(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
}

/// Slow obvious selection: prune the k lowest of `idx` (stable: lower index first among ties).
inline std::vector<bool> slow_prune_lowest(const std::vector<float>& s, std::vector<std::size_t> idx, std::size_t k) {
    std::vector<bool> pruned(s.size(), false);
    for (std::size_t t = 0; t < k; ++t) {
        std::size_t best = t;
        for (std::size_t u = t + 1; u < idx.size(); ++u)
            if (s[idx[u]] < s[idx[best]] || (s[idx[u]] == s[idx[best]] && idx[u] < idx[best])) best = u;
        std::swap(idx[t], idx[best]);
        pruned[idx[t]] = true;
    }
    return pruned;
}

}  // namespace test_util

#endif
