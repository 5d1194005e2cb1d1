#ifndef NNPRUNE_SIMD_N_OF_M_HPP
#define NNPRUNE_SIMD_N_OF_M_HPP

/// @file n_of_m.hpp
/// The N:M row kernel: n contiguous f32 scores (n a multiple of m, m <= 16) in groups of m; in
/// every group the kk lowest are pruned, the lower index first among equal keys. The rank of
/// element i in its group is the number of elements it beats (i beats j when key_i > key_j, or
/// key_i == key_j and i > j); it is kept when its rank >= kk. Bits go to a bit_writer in element
/// order. The AVX-512 kernel (m in {2, 4, 8, 16}) ranks 16 lanes at once by rotating each group's
/// keys m - 1 times; reference::n_of_m_row is its scalar twin and the path for every other case.
/// Under nan_policy::reject both return `nan_found` at the first NaN without writing its block
/// (the caller then reports it); bits already pushed are the caller's to discard.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../config.hpp"
#include "../select/keys.hpp"
#include "../select/policy.hpp"
#include "avx2/n_of_m.hpp"
#include "avx512/n_of_m.hpp"
#include "bits.hpp"
#include "isa.hpp"
#include "results.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {

/// Scalar twin of simd::n_of_m_row (any m <= 64).
inline std::size_t n_of_m_row(const float* p, std::size_t n, std::size_t m, std::size_t kk, nan_policy np,
                              bit_writer& w) noexcept {
    std::size_t kept = 0;
    std::uint32_t key[64];
    for (std::size_t g = 0; g < n; g += m) {
        for (std::size_t i = 0; i < m; ++i) {
            if (np == nan_policy::reject && nnprune::is_nan(p[g + i])) return nan_found;
            key[i] = nnprune::detail::key_as<std::uint32_t>(p[g + i], np);
        }
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < m; ++i) {
            std::size_t rank = 0;
            for (std::size_t j = 0; j < m; ++j) rank += key[j] < key[i] || (key[j] == key[i] && j < i);
            bits |= static_cast<std::uint64_t>(rank >= kk) << i;
        }
        kept += static_cast<std::size_t>(std::popcount(bits));
        w.push(bits, static_cast<unsigned>(m));
    }
    return kept;
}

}  // namespace reference

/**
 * @brief Writes the N:M kept bits of n contiguous f32 scores (n a multiple of m, m <= 64): in each
 * group of m the kk lowest are pruned. Returns the kept count, or nan_found (see the file comment).
 */
inline std::size_t n_of_m_row(const float* p, std::size_t n, std::size_t m, std::size_t kk, nan_policy np,
                              bit_writer& w) noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            switch (m) {
                case 2:
                    return avx512::n_of_m_row<2>(p, n, kk, np, w);
                case 4:
                    return avx512::n_of_m_row<4>(p, n, kk, np, w);
                case 8:
                    return avx512::n_of_m_row<8>(p, n, kk, np, w);
                case 16:
                    return avx512::n_of_m_row<16>(p, n, kk, np, w);
                default:
                    break;
            }
            break;
        case isa::avx2:
            switch (m) {
                case 2:
                    return avx2::n_of_m_row<2>(p, n, kk, np, w);
                case 4:
                    return avx2::n_of_m_row<4>(p, n, kk, np, w);
                case 8:
                    return avx2::n_of_m_row<8>(p, n, kk, np, w);
                case 16:
                    return avx2::n_of_m_row<16>(p, n, kk, np, w);
                default:
                    break;
            }
            break;
        case isa::scalar:
            break;
    }
#endif
    return reference::n_of_m_row(p, n, m, kk, np, w);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_N_OF_M_HPP
