#ifndef NNPRUNE_SIMD_GRAM_HPP
#define NNPRUNE_SIMD_GRAM_HPP

/// @file gram.hpp
/// Gram matrix of f32 rows, G(i, j) = dot(x_i, x_j), register- and cache-blocked, symmetric
/// (each pair computed once into the upper triangle, then mirrored block by block). Every entry is accumulated in exactly the order of
/// simd::dot (one batch-wide accumulator walked over the row with fused multiply-adds, then the
/// batch is summed, then the scalar tail), so G(i, j) is bit-identical to simd::dot(x_i, x_j, n)
/// and G is exactly symmetric. The cache blocking over the row length keeps that order: the
/// batch-wide partial sums of a tile are parked in a small buffer between length chunks.
/// The scalar twin in nnprune::simd::reference uses reference::dot for every entry.

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "arch.hpp"
#include "dot.hpp"

namespace nnprune::simd {

namespace reference {

/// out[i * ldo + j] = reference::dot(x_i, x_j, n) for i, j < rows; row i of x starts at x + i * stride.
inline void gram(const float* x, std::size_t rows, std::size_t n, std::size_t stride, float* out,
                 std::size_t ldo) noexcept {
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = i; j < rows; ++j) out[i * ldo + j] = out[j * ldo + i] = dot(x + i * stride, x + j * stride, n);
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

#if NNPRUNE_USE_XSIMD
/// Register tile: R rows x C columns of batch accumulators, plus C column batches and one row
/// batch live in registers (5 x 5 with 32 vector registers, 3 x 3 with 16).
template <class Arch>
inline constexpr std::size_t gram_tile_size = std::is_base_of_v<xsimd::avx512f, Arch> ? 5 : 3;

template <class Arch>
struct gram_tile {
    using batch = xsimd::batch<float, Arch>;
    static constexpr std::size_t w = batch::size;
    static constexpr std::size_t R = gram_tile_size<Arch>, C = gram_tile_size<Arch>;

    /// acc[(r * C + c) * w ...] += the lane-wise products of a[r] and column c over [k0, k1)
    /// (k1 - k0 a multiple of w); bp holds, for each batch step, the C column batches in a row.
    static void run(const float* const* a, const float* bp, std::size_t k0, std::size_t k1, float* acc) noexcept {
        batch s[R][C];
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t c = 0; c < C; ++c) s[r][c] = batch::load_aligned(acc + (r * C + c) * w);
        for (std::size_t k = k0; k < k1; k += w, bp += C * w) {
            batch bv[C];
            for (std::size_t c = 0; c < C; ++c) bv[c] = batch::load_aligned(bp + c * w);
            for (std::size_t r = 0; r < R; ++r) {
                const batch av = batch::load_unaligned(a[r] + k);
                for (std::size_t c = 0; c < C; ++c) s[r][c] = xsimd::fma(av, bv[c], s[r][c]);
            }
        }
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t c = 0; c < C; ++c) s[r][c].store_aligned(acc + (r * C + c) * w);
    }
};
#endif

}  // namespace detail

/// Gram kernel: operator()(Arch, x, rows, n, stride, out, ldo) fills the full rows x rows matrix.
struct gram_kernel {
    template <class Arch>
    void operator()(Arch, const float* x, std::size_t rows, std::size_t n, std::size_t stride, float* out,
                    std::size_t ldo) const {
#if NNPRUNE_USE_XSIMD
        using batch = xsimd::batch<float, Arch>;
        using tile = detail::gram_tile<Arch>;
        constexpr std::size_t w = batch::size, R = tile::R, C = tile::C;
        constexpr std::size_t mb = detail::gram_row_panel / R * R, nb = detail::gram_col_block / C * C;
        const std::size_t nv = n / w * w, kc = detail::gram_len_chunk / w * w;
        std::vector<float, xsimd::aligned_allocator<float, 64>> park(R * nb * w), pack(nb * nv);
        auto row = [x, stride, rows](std::size_t i) { return x + std::min(i, rows - 1) * stride; };
        for (std::size_t i0 = 0; i0 < rows; i0 += mb) {
            const std::size_t i1 = std::min(i0 + mb, rows);
            for (std::size_t jb = i0 / nb * nb; jb < rows; jb += nb) {
                const std::size_t je = std::min(jb + nb, rows);
                // pack the column tiles this panel reaches: per batch step, C batches in a row
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
                    std::fill(park.begin(), park.end(), 0.0f);
                    for (std::size_t k0 = 0; k0 < nv; k0 += kc) {
                        const std::size_t k1 = std::min(k0 + kc, nv);
                        for (std::size_t jc = jfirst; jc < je; jc += C)
                            tile::run(a, pack.data() + (jc - jb) * nv + k0 * C, k0, k1, park.data() + (jc - jb) * R * w);
                    }
                    for (std::size_t jc = jfirst; jc < je; jc += C) {
                        const float* acc = park.data() + (jc - jb) * R * w;
                        for (std::size_t r = 0; r < R && ib + r < i1; ++r)
                            for (std::size_t c = 0; c < C && jc + c < je; ++c) {
                                const std::size_t i = ib + r, j = jc + c;
                                if (j < i) continue;
                                out[i * ldo + j] =
                                    detail::dot_finish(xsimd::hadd(batch::load_aligned(acc + (r * C + c) * w)),
                                                       x + i * stride, x + j * stride, nv, n);
                            }
                    }
                }
            }
        }
        detail::mirror_upper(out, rows, ldo);
#else
        reference::gram(x, rows, n, stride, out, ldo);
#endif
    }
};

/// Full Gram matrix on the default instruction set: out[i * ldo + j] = dot(x_i, x_j, n), bit-identical.
inline void gram(const float* x, std::size_t rows, std::size_t n, std::size_t stride, float* out, std::size_t ldo) {
    if (rows == 0) return;
    gram_kernel{}(default_arch{}, x, rows, n, stride, out, ldo);
}

}  // namespace nnprune::simd

#endif  // NNPRUNE_SIMD_GRAM_HPP
