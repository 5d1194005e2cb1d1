#ifndef NNPRUNE_SCORERS_RANDOM_HPP
#define NNPRUNE_SCORERS_RANDOM_HPP

/// @file random.hpp
/// Random importance (the baseline every pruning paper compares to), seeded and reproducible on
/// every platform: our own splitmix64 stream, no std:: distributions. The stream of a layer
/// depends only on the seed and the layer's name, so adding or reordering layers does not change
/// another layer's scores.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../config.hpp"
#include "scorer.hpp"

namespace nnprune {

/// splitmix64 (Steele, Lea, Flood 2014): a 64-bit generator with a full 2^64 period.
class splitmix64 {
public:
    constexpr explicit splitmix64(std::uint64_t seed) noexcept : m_state(seed) {}

    constexpr std::uint64_t operator()() noexcept {
        std::uint64_t z = (m_state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    /// Uniform float in [0, 1) with 24 random bits (exact, platform independent).
    constexpr float uniform() noexcept { return static_cast<float>((*this)() >> 40) * 0x1.0p-24f; }

private:
    std::uint64_t m_state;
};

namespace detail {
/// FNV-1a of a name: mixes the layer name into the seed.
constexpr std::uint64_t fnv1a(std::string_view s) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return h;
}
}  // namespace detail

/// score(i, j) = uniform [0, 1) from splitmix64(seed ^ fnv1a(name)), in row-major order.
struct random_scorer {
    std::uint64_t seed = 0;

    void operator()(const layer& l, matrix_view<float> out) const {
        splitmix64 g(seed ^ detail::fnv1a(l.name));
        const std::size_t n = out.extent(0) * out.extent(1);
        for (std::size_t i = 0; i < n; ++i) out.data_handle()[i] = g.uniform();
    }
};

static_assert(scorer<random_scorer>);
static_assert(splitmix64(0)() == 0xE220A8397B1DCDAFull, "splitmix64 reference value (seed 0)");

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_RANDOM_HPP
