#ifndef NNPRUNE_SELECT_RESIDENT_HPP
#define NNPRUNE_SELECT_RESIDENT_HPP

/// @file resident.hpp
/// Exact k-th key of a contiguous array that fits in cache (a row, a column tile, the candidates
/// of a streaming pass): radix select on order keys. A 1024-key sample histogram brackets the
/// rank first (one branch-free simd::bracket pass copies the bracket's keys; for scores that pass
/// also keys them, so the row is read once and never copied whole), then 11-bit histogram levels
/// narrow the candidates until the last level gives the key itself.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "../simd/bracket.hpp"
#include "keys.hpp"
#include "policy.hpp"

namespace nnprune::detail {

template <class K>
struct kth_found {
    K key{};                ///< the k-th smallest competing key
    std::size_t below = 0;  ///< competing keys strictly below it
};

/// The bin of a histogram holding (0-based) rank r, starting at bin b with acc counted before it
/// (blocks of 16 bins are skipped by their sums); acc becomes the count before the returned bin.
[[nodiscard]] inline std::size_t find_bin(const std::uint32_t* h, std::size_t used, std::size_t r, std::size_t b,
                                          std::size_t& acc) noexcept {
    while (b + 16 <= used) {
        std::uint32_t sum = 0;
        for (std::size_t i = 0; i < 16; ++i) sum += h[b + i];
        if (acc + sum > r) break;
        acc += sum;
        b += 16;
    }
    for (; b < used; ++b) {
        if (acc + h[b] > r) return b;
        acc += h[b];
    }
    return used - 1;
}

/// Bracket [lo, hi] of keys around rank j (1 <= j <= n) of n >= 4096 contiguous scores, from the
/// histogram (h: 2048 bins) of 1024 sample keys (64 evenly spaced runs of 16): the bins around rank j +- 3
/// sampling sd (an open end where that passes the sample's extremes). A miss is possible (rare);
/// the caller checks the counts.
template <class K, class T>
std::pair<K, K> sample_bracket(const T* src, std::size_t n, std::size_t j, nan_policy np, std::uint32_t* h) {
    constexpr std::size_t S = 1024;
    constexpr unsigned radix = 11;
    K s[S];
    K smin, smax;
    simd::sample_keys<K>(src, S / 16, n / (S / 16), np, s, smin, smax);
    const auto w = static_cast<unsigned>(std::bit_width(static_cast<K>(smax - smin)));
    const unsigned shift = w > radix ? w - radix : 0u;
    const auto used = static_cast<std::size_t>(static_cast<K>(smax - smin) >> shift) + 1;
    std::fill(h, h + used, 0u);
    for (std::size_t i = 0; i < S; ++i) ++h[static_cast<std::size_t>(static_cast<K>(s[i] - smin) >> shift)];
    const double pr = static_cast<double>(j) / static_cast<double>(n);
    const double d = 3.0 * std::sqrt(S * std::clamp(pr, 0.01, 0.99) * (1 - std::clamp(pr, 0.01, 0.99))) + 2.0;
    const auto rlo = static_cast<std::ptrdiff_t>(std::floor(pr * S - d)),
               rhi = static_cast<std::ptrdiff_t>(std::ceil(pr * S + d));
    K lo = 0, hi = std::numeric_limits<K>::max();
    std::size_t acc = 0, bl = 0;
    if (rlo > 0) {
        bl = find_bin(h, used, static_cast<std::size_t>(rlo), 0, acc);
        lo = static_cast<K>(smin + (static_cast<K>(bl) << shift));
    }
    if (rhi < static_cast<std::ptrdiff_t>(S) - 1) {
        const std::size_t bh = find_bin(h, used, static_cast<std::size_t>(rhi), bl, acc);
        if (bh + 1 < used) hi = static_cast<K>(smin + (static_cast<K>(bh + 1) << shift) - 1);
    }
    return {lo, hi};
}

/**
 * @brief The j-th smallest (1 <= j <= n) key of a contiguous array that fits in cache (scores of
 * type T, or keys known to lie in [lo, hi]): radix select. Each level histograms 11 bits of the
 * candidates' offsets from lo (two interleaved histograms), keeps the bin holding rank j, and
 * copies its keys (simd::bracket, no per-element branches) between buf0 and buf1 (n + 16 keys
 * each; src may be buf1); the last level gives the key itself. Also returns the keys equal to the
 * result (eq) and the NaN scores (nans; nothing else is meaningful then under reject).
 */
template <class K, class T>
kth_found<K> kth_resident(const T* src, std::size_t n, std::size_t j, nan_policy np, K* buf0, K* buf1, std::size_t& eq,
                          std::size_t& nans, K lo = 0, K hi = std::numeric_limits<K>::max()) {
    constexpr unsigned radix = 11, bins = 1u << radix;
    const K* cur = nullptr;
    std::size_t m = n, below = 0;
    std::uint32_t h[4][bins];
    if constexpr (std::is_same_v<T, K>) {
        nans = 0;
        cur = src;
    } else {
        // a long row of scores: bracket rank j from a sample of the scores themselves, so one
        // pass (simd::bracket) keys the row and keeps only the bracket's keys (no full key copy)
        if (n >= 4096 && j >= 1 && j <= n) {
            const auto f = sample_bracket<K>(src, n, j, np, h[0]);
            simd::bracket_counts c;
            std::size_t pos = 0;
            simd::bracket<K>(src, n, 1, nullptr, 0, 1, f.first, f.second, np, buf0, pos, n, c);
            nans = c.nans;
            if (c.below < j && j <= c.below + c.inside) {
                below = c.below;
                j -= c.below;
                m = c.inside;
                cur = buf0;
                lo = f.first;
                hi = f.second;
            }
        }
        if (!cur) {  // short row, or the bracket missed (rare): key the whole row
            K kmin, kmax;
            nans = simd::to_keys<K>(src, n, np, buf0, kmin, kmax);
            cur = buf0;
            if (n) {
                lo = kmin;
                hi = kmax;
            }
        }
    }
    K* out = cur == buf0 ? buf1 : buf0;
    auto shift_for = [&] {
        const auto w = static_cast<unsigned>(std::bit_width(static_cast<K>(hi - lo)));
        return w > radix ? w - radix : 0u;
    };
    auto take = [&](K nlo, K nhi) {  // keep the keys in [nlo, nhi]; false when rank j is not among them
        simd::bracket_counts c;
        std::size_t pos = 0;
        simd::bracket<K>(cur, m, 1, nullptr, 0, 1, nlo, nhi, np, out, pos, m, c);
        if (!(c.below < j && j <= c.below + c.inside)) return false;
        below += c.below;
        j -= c.below;
        m = c.inside;
        cur = out;
        out = out == buf0 ? buf1 : buf0;
        lo = nlo;
        hi = nhi;
        return true;
    };
    if (std::is_same_v<T, K> && m >= 4096) {
        // histogram a sample of 1024 keys and bracket the bins around rank j +- 3 sampling sd
        constexpr std::size_t S = 1024;
        const unsigned shift = shift_for();
        const auto used = static_cast<std::size_t>(static_cast<K>(hi - lo) >> shift) + 1;
        std::fill(h[0], h[0] + used, 0u);
        const std::size_t stride = m / S;
        for (std::size_t i = 0; i < S; ++i)
            ++h[0][static_cast<std::size_t>(static_cast<K>(cur[i * stride + stride / 2] - lo) >> shift)];
        const double pr = static_cast<double>(j) / static_cast<double>(m);
        const double d = 3.0 * std::sqrt(S * std::clamp(pr, 0.01, 0.99) * (1 - std::clamp(pr, 0.01, 0.99))) + 2.0;
        const auto rlo = static_cast<std::ptrdiff_t>(std::floor(pr * S - d)),
                   rhi = static_cast<std::ptrdiff_t>(std::ceil(pr * S + d));
        if (rlo > 0 || rhi < static_cast<std::ptrdiff_t>(S) - 1) {
            std::size_t acc = 0;
            const std::size_t bl = rlo <= 0 ? 0 : find_bin(h[0], used, static_cast<std::size_t>(rlo), 0, acc);
            const std::size_t bh = rhi >= static_cast<std::ptrdiff_t>(S) - 1
                                       ? used - 1
                                       : find_bin(h[0], used, static_cast<std::size_t>(rhi), bl, acc);
            const K nlo = static_cast<K>(lo + (static_cast<K>(bl) << shift));
            const K nhi = bh + 1 >= used ? hi : static_cast<K>(lo + (static_cast<K>(bh + 1) << shift) - 1);
            (void)take(nlo, nhi);  // a miss (rare) leaves everything as it was
        }
    }
    for (;;) {
        if (m <= 48) {  // few left: sort them
            K* a = out;
            std::copy(cur, cur + m, a);
            std::sort(a, a + m);
            const K key = a[j - 1];
            const auto first = static_cast<std::size_t>(std::lower_bound(a, a + m, key) - a);
            eq = static_cast<std::size_t>(std::upper_bound(a, a + m, key) - a) - first;
            return {key, below + first};
        }
        const unsigned shift = shift_for();
        const auto used = static_cast<std::size_t>(static_cast<K>(hi - lo) >> shift) + 1;
        auto bin = [&](K key) { return static_cast<std::size_t>(static_cast<K>(key - lo) >> shift); };
        std::size_t i = 0;
        if (m >= 8 * used) {  // many keys per bin: four interleaved histograms break the increment chains
            for (auto& hh : h) std::fill(hh, hh + used, 0u);
            for (; i + 4 <= m; i += 4) {
                ++h[0][bin(cur[i])];
                ++h[1][bin(cur[i + 1])];
                ++h[2][bin(cur[i + 2])];
                ++h[3][bin(cur[i + 3])];
            }
            for (; i < m; ++i) ++h[0][bin(cur[i])];
            for (std::size_t q = 0; q < used; ++q) h[0][q] += h[1][q] + h[2][q] + h[3][q];
        } else {
            std::fill(h[0], h[0] + used, 0u);
            for (; i < m; ++i) ++h[0][bin(cur[i])];
        }
        std::size_t acc = 0;
        const std::size_t b = find_bin(h[0], used, j - 1, 0, acc);
        const std::size_t count = h[0][b];
        below += acc;
        j -= acc;
        lo = static_cast<K>(lo + (static_cast<K>(b) << shift));
        if (shift == 0) {
            eq = count;
            return {lo, below};
        }
        const K nhi = static_cast<K>(lo + ((K{1} << shift) - 1));
        if (count < m) {
            const K nlo = lo;
            lo = static_cast<K>(lo - (static_cast<K>(b) << shift));  // take() recounts from the old range
            j += acc;
            below -= acc;
            const bool ok = take(nlo, nhi);
            NNPRUNE_ASSERT(ok && m == count);
            (void)ok;
        } else {
            hi = nhi;
        }
    }
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_SELECT_RESIDENT_HPP
