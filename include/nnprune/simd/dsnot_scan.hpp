#ifndef NNPRUNE_SIMD_DSNOT_SCAN_HPP
#define NNPRUNE_SIMD_DSNOT_SCAN_HPP

/// @file dsnot_scan.hpp
/// The pass over one row of DSnoT (reconstruct/dsnot.hpp):
/// - e: D_j = w_j · s_j in double is added to the partial sum acc[j % 8] for every pruned column,
///   in ascending j within a lane, so every tier gives the same bits;
/// - bad: set when a weight has !(|w_j| < wlim);
/// - kmin (null: skipped): the least |w_j| · key_j in float over kept columns with w_j != 0;
/// - with acc null (a row's later pass) none of these three;
/// - hits, a filter for the caller's candidate lists, in float (the caller decides each hit
///   exactly), as dsnot_limits says; written as the chunks of 64 columns that have any.
/// reference::dsnot_scan is the scalar twin (and serves double weights).

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "avx2/dsnot_scan.hpp"
#include "avx512/dsnot_scan.hpp"
#include "bits.hpp"
#include "isa.hpp"
#include "results.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

/// The least float >= x (inf above FLT_MAX): `|w| < wlim` equals `|w| < float_up(wlim)` for float w.
[[nodiscard]] inline float float_up(double x) noexcept {
    if (x > FLT_MAX) return HUGE_VALF;  // (a cast out of float's range is undefined)
    if (x < -FLT_MAX) return -FLT_MAX;
    auto f = static_cast<float>(x);
    if (static_cast<double>(f) < x) f = std::nextafter(f, HUGE_VALF);
    return f;
}

/// The greatest float <= x (-inf below -FLT_MAX).
[[nodiscard]] inline float float_down(double x) noexcept {
    if (x > FLT_MAX) return FLT_MAX;
    if (x < -FLT_MAX) return -HUGE_VALF;
    auto f = static_cast<float>(x);
    if (static_cast<double>(f) > x) f = std::nextafter(f, -HUGE_VALF);
    return f;
}

namespace reference {
/// Scalar twin of simd::dsnot_scan, for float or double weights (double weights filter in double,
/// which only sharpens the filter).
template <class W>
std::size_t dsnot_scan(const dsnot_row<W>& r, dsnot_limits lim, double* acc, float* kmin, bool& bad,
                       dsnot_hits* out) noexcept {
    std::size_t chunks = 0;
    for (std::size_t j = 0; j < r.cols; j += 64) {
        const auto cnt = static_cast<unsigned>(std::min<std::size_t>(64, r.cols - j));
        const std::uint64_t kb = load_bits(r.kept, r.base + j, cnt);
        std::uint64_t hits = 0;
        for (unsigned k = 0; k < cnt; ++k) {
            const std::size_t c = j + k;
            const auto wd = static_cast<double>(r.w[c]);
            const bool kept = (kb >> k) & 1u;
            const W aw = std::fabs(r.w[c]);
            if (acc) {
                bad |= !(std::fabs(wd) < r.wlim);
                acc[k & 7] += kept ? 0.0 : wd * r.s[c];
                if (kmin && kept && aw > 0) {
                    const W a = aw * r.key[c];
                    *kmin = std::min(*kmin, std::is_same_v<W, float> ? static_cast<float>(a) : float_down(a));
                }
            }
            const std::size_t q = std::signbit(r.w[c]) != std::signbit(r.grow[c]);
            const bool hit = kept ? !(aw > static_cast<W>(lim.keep[q]) * r.keep[c])
                                  : !(aw < static_cast<W>(lim.grow[q]) * std::fabs(r.grow[c]));
            hits |= static_cast<std::uint64_t>(hit) << k;
        }
        if (hits) out[chunks++] = {j, hits, kb};
    }
    return chunks;
}
}  // namespace reference

/// Scans row r on the active tier; writes the chunks with hits to out (room for
/// ceil(cols / 64)) and returns their number.
inline std::size_t dsnot_scan(const dsnot_row<float>& r, dsnot_limits lim, double* acc, float* kmin, bool& bad,
                              dsnot_hits* out) noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return acc ? avx512::dsnot_scan<true>(r, lim, acc, kmin, float_up(r.wlim), bad, out)
                       : avx512::dsnot_scan<false>(r, lim, acc, kmin, 0.0f, bad, out);
        case isa::avx2:
            return acc ? avx2::dsnot_scan<true>(r, lim, acc, kmin, float_up(r.wlim), bad, out)
                       : avx2::dsnot_scan<false>(r, lim, acc, kmin, 0.0f, bad, out);
        case isa::scalar:
            break;
    }
#endif
    return reference::dsnot_scan(r, lim, acc, kmin, bad, out);
}

/// Double weights: the scalar twin on every tier.
inline std::size_t dsnot_scan(const dsnot_row<double>& r, dsnot_limits lim, double* acc, float* kmin, bool& bad,
                              dsnot_hits* out) noexcept {
    return reference::dsnot_scan(r, lim, acc, kmin, bad, out);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_DSNOT_SCAN_HPP
