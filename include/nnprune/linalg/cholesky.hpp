#ifndef NNPRUNE_LINALG_CHOLESKY_HPP
#define NNPRUNE_LINALG_CHOLESKY_HPP

/// @file cholesky.hpp
/// In-place lower Cholesky factorisation of a symmetric positive definite f32 matrix, recursive
/// and blocked: the left half of the columns is factored (recursively), the right half of the
/// trailing rows is updated with simd::gemm (most of the work), then the right half is factored.
/// Panels of at most chol_base columns are factored directly: their diagonal block by the scalar
/// textbook loop, the rows below by simd::trsm_right_lower_t (vectorised across rows).
///
/// Every entry is computed in one fixed order whatever the blocking, tier or thread count, the
/// textbook (Cholesky-Crout) one:
///   l_jj = sqrt(a_jj − Σ_{p<j} l_jp²),   l_ij = (a_ij − Σ_{p<j} l_ip·l_jp) / l_jj   (i > j),
/// each sum in ascending p, each term fused (x = fma(−l_ip, l_jp, x), starting from a_ij). The gemm
/// updates continue those chains in the same order, so results are bit-identical on every tier
/// and for any thread count.

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "../config.hpp"
#include "../detail/parallel.hpp"
#include "../simd/gemm.hpp"

namespace nnprune::linalg {

namespace detail {

/// Panels at most this wide are factored directly.
inline constexpr std::size_t chol_base = 32;

/// Rows of a panel packed and solved at a time (per part).
inline constexpr std::size_t chol_rows = 256;

inline constexpr std::size_t chol_ok = std::numeric_limits<std::size_t>::max();

/// The calling thread's panel buffers, one per part, grown and kept.
inline std::vector<simd::detail::gemm_buffer>& chol_buffers(std::size_t parts) {
    thread_local std::vector<simd::detail::gemm_buffer> bufs;
    if (bufs.size() < parts) bufs.resize(parts);
    return bufs;
}

struct chol_matrix {
    float* a;
    std::size_t n, lda;
    unsigned threads;

    [[nodiscard]] float* at(std::size_t i, std::size_t j) const noexcept { return a + i * lda + j; }
};

/// Factors columns [j0, j0 + w) (rows [j0, n)), all updates from columns < j0 applied. Returns
/// chol_ok or the first failing column.
inline std::size_t chol_panel(const chol_matrix& m, std::size_t j0, std::size_t w) {
    // the diagonal block, textbook order
    for (std::size_t q = 0; q < w; ++q) {
        const float* lq = m.at(j0 + q, j0);
        for (std::size_t i = q; i < w; ++i) {
            float* li = m.at(j0 + i, j0);
            float v = li[q];
            for (std::size_t p = 0; p < q; ++p) v = std::fma(-li[p], lq[p], v);
            if (i == q) {
                if (!(v > 0.0f) || !std::isfinite(v)) return j0 + q;
                li[q] = std::sqrt(v);
            } else {
                li[q] = v / lq[q];
            }
        }
    }
    // the rows below: X·Lᵀ = A on packed chunks of rows, vectorised across rows
    const std::size_t r0 = j0 + w;
    if (r0 >= m.n) return chol_ok;
    const std::size_t rows = m.n - r0, chunks = (rows + chol_rows - 1) / chol_rows;
    const unsigned parts = ::nnprune::detail::parts_for(chunks, m.threads, 2);
    auto& bufs = chol_buffers(parts);
    const float* l = m.at(j0, j0);
    ::nnprune::detail::parallel_for(chunks, parts, [&](std::size_t b, std::size_t e, unsigned part) {
        float* x = bufs[part].get(chol_rows * w);
        for (std::size_t c = b; c < e; ++c) {
            const std::size_t i0 = r0 + c * chol_rows, nr = std::min(chol_rows, m.n - i0);
            for (std::size_t i = 0; i < nr; ++i) {
                const float* src = m.at(i0 + i, j0);
                for (std::size_t q = 0; q < w; ++q) x[q * chol_rows + i] = src[q];
            }
            simd::trsm_right_lower_t(x, chol_rows, nr, w, l, m.lda);
            for (std::size_t i = 0; i < nr; ++i) {
                float* dst = m.at(i0 + i, j0);
                for (std::size_t q = 0; q < w; ++q) dst[q] = x[q * chol_rows + i];
            }
        }
    });
    return chol_ok;
}

/// Factors columns [j0, j0 + w) (rows [j0, n)) recursively.
inline std::size_t chol_recursive(const chol_matrix& m, std::size_t j0, std::size_t w) {
    if (w <= chol_base) return chol_panel(m, j0, w);
    const std::size_t h = (w / 2 + 15) / 16 * 16;  // < w since w > 32
    if (const std::size_t f = chol_recursive(m, j0, h); f != chol_ok) return f;
    // columns [j0 + h, j0 + w) of rows >= j0 + h  -=  L(rows, j0 : j0 + h) · L(j0 + h : j0 + w, j0 : j0 + h)ᵀ
    const simd::gemm_operand bt{m.at(j0 + h, j0), 1, static_cast<std::ptrdiff_t>(m.lda)};
    simd::gemm(simd::gemm_op::subtract, w - h, w - h, h, {m.at(j0 + h, j0), static_cast<std::ptrdiff_t>(m.lda), 1}, bt,
               m.at(j0 + h, j0 + h), m.lda, simd::gemm_part::lower, m.threads);
    if (j0 + w < m.n)
        simd::gemm(simd::gemm_op::subtract, m.n - j0 - w, w - h, h,
                   {m.at(j0 + w, j0), static_cast<std::ptrdiff_t>(m.lda), 1}, bt, m.at(j0 + w, j0 + h), m.lda,
                   simd::gemm_part::full, m.threads);
    return chol_recursive(m, j0 + h, w - h);
}

}  // namespace detail

/**
 * @brief In-place lower Cholesky factor A = L·Lᵀ of the symmetric n x n matrix stored row-major at
 * a (leading dimension lda). Only the lower triangle is read and written (L replaces it); the
 * strict upper triangle is not touched.
 * @return n on success, else the first column whose pivot is not positive and finite (a's lower
 *         triangle is then unspecified; callers factor a copy).
 *
 * Bit-identical on every tier and for any `threads`: see the file comment for the order.
 */
inline std::size_t cholesky_lower(float* a, std::size_t n, std::size_t lda, unsigned threads = 1) {
    if (n == 0) return 0;
    const std::size_t f = detail::chol_recursive({a, n, lda, threads}, 0, n);
    return f == detail::chol_ok ? n : f;
}

}  // namespace nnprune::linalg

#endif  // NNPRUNE_LINALG_CHOLESKY_HPP
