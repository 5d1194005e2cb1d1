// Synthetic token features shared by bench_tokens.cpp (not a test fixture: plain helpers).
#ifndef NNPRUNE_BENCH_TOKEN_DATA_HPP
#define NNPRUNE_BENCH_TOKEN_DATA_HPP

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace bench_tokens {

/// i.i.d. N(0, 1) features: the hardest case for the lazy searches (all distances near 1).
inline std::vector<float> gaussian(std::size_t n, std::size_t d, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g;
    std::vector<float> x(n * d);
    for (auto& v : x) v = g(rng);
    return x;
}

/// Visual-token-like features: a square grid of patches, each a mix of 16 "object" directions
/// that varies smoothly over the grid, plus noise (neighbouring patches are similar).
inline std::vector<float> clustered(std::size_t n, std::size_t d, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g;
    const std::size_t c = 16;
    std::vector<float> centres(c * d);
    for (auto& v : centres) v = g(rng);
    const auto side = static_cast<std::size_t>(std::ceil(std::sqrt(static_cast<double>(n))));
    std::vector<float> x(n * d);
    for (std::size_t i = 0; i < n; ++i) {
        const double r = static_cast<double>(i / side) / static_cast<double>(side);
        const double col = static_cast<double>(i % side) / static_cast<double>(side);
        for (std::size_t m = 0; m < c; ++m) {
            const double w = std::exp(-8.0 * (std::pow(r - 0.25 * static_cast<double>(m % 4) - 0.1, 2) +
                                              std::pow(col - 0.25 * static_cast<double>(m / 4) - 0.1, 2)));
            for (std::size_t j = 0; j < d; ++j) x[i * d + j] += static_cast<float>(w) * centres[m * d + j];
        }
        for (std::size_t j = 0; j < d; ++j) x[i * d + j] += 0.3f * g(rng);
    }
    return x;
}

}  // namespace bench_tokens

#endif
