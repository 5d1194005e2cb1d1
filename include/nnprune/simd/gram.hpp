#ifndef NNPRUNE_SIMD_GRAM_HPP
#define NNPRUNE_SIMD_GRAM_HPP

/// @file gram.hpp
/// Gram matrix of f32 rows, G(i, j) = dot(x_i, x_j), register- and cache-blocked, symmetric (each
/// pair computed once into the upper triangle, then mirrored block by block). Every entry is
/// summed in simd::dot's order (16 lane sums, folded, fused tail), so G(i, j) is bit-identical to
/// simd::dot(x_i, x_j, n) on every tier, and G is exactly symmetric. The cache blocking over the
/// row length keeps that order: a tile's lane sums are parked in a small buffer between length
/// chunks. The tiers differ only in their register tile (avx512/gram.hpp, avx2/gram.hpp);
/// reference::gram, the scalar twin, calls reference::dot for every entry.

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../config.hpp"
#include "avx2/gram.hpp"
#include "avx512/gram.hpp"
#include "dot.hpp"
#include "dot_order.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {

/// out[i * ldo + j] = reference::dot(x_i, x_j, n) for i, j < rows; row i of x starts at x + i * stride.
inline void gram(const float* x, std::size_t rows, std::size_t n, std::size_t stride, float* out,
                 std::size_t ldo) noexcept {
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = i; j < rows; ++j)
            out[i * ldo + j] = out[j * ldo + i] = dot(x + i * stride, x + j * stride, n);
}

}  // namespace reference

namespace detail {

/// Blocking of the Gram kernel. Rows of x are taken gram_row_panel at a time (they stay in L3)
/// against column blocks of gram_col_block rows, packed tile by tile (they stay in L2); the row
/// length is walked gram_len_chunk floats at a time so a row tile's chunk stays in L1.
inline constexpr std::size_t gram_row_panel = 600;
inline constexpr std::size_t gram_col_block = 20;
inline constexpr std::size_t gram_len_chunk = 2048;

/// Copies the upper triangle of a square matrix onto its lower one, 32 x 32 blocks at a time.
inline void mirror_upper(float* out, std::size_t rows, std::size_t ldo) noexcept {
    constexpr std::size_t b = 32;
    for (std::size_t i0 = 0; i0 < rows; i0 += b)
        for (std::size_t j0 = i0; j0 < rows; j0 += b)
            for (std::size_t j = j0; j < std::min(j0 + b, rows); ++j)
                for (std::size_t i = i0; i < std::min(i0 + b, j); ++i) out[j * ldo + i] = out[i * ldo + j];
}

/**
 * @brief The blocked Gram driver of the vector tiers. Tile (a tier's register tile) has R, C and
 * run(a, bp, k0, k1, acc): acc[(r * C + c) * 16 + l] += the lane-l products of row a[r] with
 * packed column c over [k0, k1) (a multiple of 16), where bp holds, per step of 16, the C column
 * steps one after the other.
 */
template <class Tile>
void gram_blocked(const float* x, std::size_t rows, std::size_t n, std::size_t stride, float* out, std::size_t ldo) {
    constexpr std::size_t w = dot_lanes, R = Tile::R, C = Tile::C;
    constexpr std::size_t mb = gram_row_panel / R * R, nb = gram_col_block / C * C;
    const std::size_t nv = n / w * w, kc = gram_len_chunk / w * w;
    // the calling thread's buffers, grown and kept: a steady-state call allocates nothing
    thread_local std::vector<float> park, pack;
    if (park.size() < R * nb * w) park.resize(R * nb * w);
    if (pack.size() < nb * nv) pack.resize(nb * nv);
    auto row = [x, stride, rows](std::size_t i) { return x + std::min(i, rows - 1) * stride; };
    for (std::size_t i0 = 0; i0 < rows; i0 += mb) {
        const std::size_t i1 = std::min(i0 + mb, rows);
        for (std::size_t jb = i0 / nb * nb; jb < rows; jb += nb) {
            const std::size_t je = std::min(jb + nb, rows);
            // pack the column tiles this panel reaches: per step of 16, C column steps in a row
            for (std::size_t jc = std::max(jb, i0 / C * C); jc < je; jc += C)
                for (std::size_t c = 0; c < C; ++c) {
                    const float* src = row(jc + c);
                    float* dst = pack.data() + (jc - jb) * nv + c * w;
                    for (std::size_t k = 0; k < nv; k += w) std::copy(src + k, src + k + w, dst + k * C);
                }
            for (std::size_t ib = i0; ib < std::min(i1, je); ib += R) {
                const float* a[R];
                for (std::size_t r = 0; r < R; ++r) a[r] = row(ib + r);
                const std::size_t jfirst = std::max(jb, ib / C * C);  // tiles reaching j >= i
                std::fill(park.begin(), park.begin() + static_cast<std::ptrdiff_t>(R * nb * w), 0.0f);
                for (std::size_t k0 = 0; k0 < nv; k0 += kc) {
                    const std::size_t k1 = std::min(k0 + kc, nv);
                    for (std::size_t jc = jfirst; jc < je; jc += C)
                        Tile::run(a, pack.data() + (jc - jb) * nv + k0 * C, k0, k1, park.data() + (jc - jb) * R * w);
                }
                for (std::size_t jc = jfirst; jc < je; jc += C) {
                    const float* acc = park.data() + (jc - jb) * R * w;
                    for (std::size_t r = 0; r < R && ib + r < i1; ++r)
                        for (std::size_t c = 0; c < C && jc + c < je; ++c) {
                            const std::size_t i = ib + r, j = jc + c;
                            if (j < i) continue;
                            out[i * ldo + j] =
                                dot_finish(sum16(acc + (r * C + c) * w), x + i * stride, x + j * stride, nv, n);
                        }
                }
            }
        }
    }
    mirror_upper(out, rows, ldo);
}

}  // namespace detail

/// Full Gram matrix on the active tier: out[i * ldo + j] = dot(x_i, x_j, n), bit-identical.
inline void gram(const float* x, std::size_t rows, std::size_t n, std::size_t stride, float* out, std::size_t ldo) {
    if (rows == 0) return;
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return detail::gram_blocked<avx512::gram_tile>(x, rows, n, stride, out, ldo);
        case isa::avx2:
            return detail::gram_blocked<avx2::gram_tile>(x, rows, n, stride, out, ldo);
        case isa::scalar:
            break;
    }
#endif
    reference::gram(x, rows, n, stride, out, ldo);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_GRAM_HPP
