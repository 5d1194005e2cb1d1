#ifndef NNPRUNE_SIMD_GEMM_HPP
#define NNPRUNE_SIMD_GEMM_HPP

/// @file gemm.hpp
/// Dense f32 matrix product update C += A·B or C -= A·B, with any strides for A and B (so
/// transposed operands too), optionally only C's lower or upper triangle.
///
/// The order is part of the contract: every C(i, j) is updated k terms at a time in ascending k,
/// each term fused, starting from C's value:
///   c = fma(a_ik, b_kj, c)    (add)      or      c = fma(-a_ik, b_kj, c)    (subtract).
/// Each entry is one chain of fused operations whose order no tier, blocking or thread count
/// changes, so the result is bit-identical to reference::gemm (the scalar twin, a triple loop)
/// everywhere. The vector tiers keep that order while blocking like a BLAS: A and B are packed into
/// contiguous panels (A negated for subtract: exact), a register tile of C (avx512/gemm.hpp,
/// avx2/gemm.hpp) broadcasts A and runs one fma chain per lane, and k is walked in chunks whose
/// partial chains are parked in C itself between chunks (a float store and load is exact).
/// Threads split C's rows (or columns), balancing a triangle's work; each entry is computed by
/// exactly one thread. Packing buffers belong to the calling thread and are grown and kept, so a
/// steady-state call allocates nothing (worker threads use the caller's buffers).
///
/// trsm_right_lower_t, the triangular panel solve of linalg::cholesky_lower, is here too: it is the
/// same kind of fixed-order fused kernel (one chain per entry, vectorised across rows).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <new>
#include <vector>

#include "../config.hpp"
#include "../detail/parallel.hpp"
#include "avx2/gemm.hpp"
#include "avx512/gemm.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

/// C += A·B or C -= A·B.
enum class gemm_op { add, subtract };

/// The entries of C written: all, i >= j (lower) or i <= j (upper). The others are neither written
/// nor computed.
enum class gemm_part { full, lower, upper };

/// A strided matrix operand: element (i, k) at data[i * row_stride + k * col_stride].
struct gemm_operand {
    const float* data;
    std::ptrdiff_t row_stride;
    std::ptrdiff_t col_stride;
};

namespace detail {

/// The first column of row i that `part` writes.
constexpr std::size_t gemm_col_begin(gemm_part part, std::size_t i) noexcept {
    return part == gemm_part::upper ? i : 0;
}

/// One past the last column of row i that `part` writes (n columns in all).
constexpr std::size_t gemm_col_end(gemm_part part, std::size_t i, std::size_t n) noexcept {
    return part == gemm_part::lower ? std::min(i + 1, n) : n;
}

/// Element (i, k) of a strided operand.
inline const float* gemm_at(const gemm_operand& x, std::size_t i, std::size_t k) noexcept {
    return x.data + static_cast<std::ptrdiff_t>(i) * x.row_stride + static_cast<std::ptrdiff_t>(k) * x.col_stride;
}

}  // namespace detail

namespace reference {

/// The scalar twin of simd::gemm: for each i < m, each k in ascending order, each j of row i's
/// part, c(i, j) = std::fma(±a(i, k), b(k, j), c(i, j)).
inline void gemm(gemm_op op, std::size_t m, std::size_t n, std::size_t k, gemm_operand a, gemm_operand b, float* c,
                 std::size_t ldc, gemm_part part = gemm_part::full) noexcept {
    for (std::size_t i = 0; i < m; ++i) {
        const std::size_t j0 = detail::gemm_col_begin(part, i), j1 = detail::gemm_col_end(part, i, n);
        float* ci = c + i * ldc;
        for (std::size_t p = 0; p < k; ++p) {
            const float av = op == gemm_op::subtract ? -*detail::gemm_at(a, i, p) : *detail::gemm_at(a, i, p);
            for (std::size_t j = j0; j < j1; ++j) ci[j] = std::fma(av, *detail::gemm_at(b, p, j), ci[j]);
        }
    }
}

/// The scalar twin of simd::trsm_right_lower_t.
inline void trsm_right_lower_t(float* x, std::size_t ldx, std::size_t rows, std::size_t w, const float* l,
                               std::size_t ldl, std::size_t first_row = 0) noexcept {
    for (std::size_t q = 0; q < w; ++q) {
        float* xq = x + q * ldx;
        const float d = l[q * ldl + q];
        for (std::size_t i = first_row; i < rows; ++i) xq[i] = xq[i] / d;
        for (std::size_t r = q + 1; r < w; ++r) {
            float* xr = x + r * ldx;
            const float lrq = l[r * ldl + q];
            for (std::size_t i = first_row; i < rows; ++i) xr[i] = std::fma(-xq[i], lrq, xr[i]);
        }
    }
}

}  // namespace reference

namespace detail {

/// A 64-byte aligned float buffer that only grows.
class gemm_buffer {
public:
    gemm_buffer() = default;
    gemm_buffer(const gemm_buffer&) = delete;
    gemm_buffer& operator=(const gemm_buffer&) = delete;

    gemm_buffer(gemm_buffer&& o) noexcept : m_p(o.m_p), m_cap(o.m_cap) { o.m_p = nullptr, o.m_cap = 0; }

    gemm_buffer& operator=(gemm_buffer&& o) noexcept {
        std::swap(m_p, o.m_p), std::swap(m_cap, o.m_cap);
        return *this;
    }

    ~gemm_buffer() { release(); }

    /// At least n floats (contents unspecified).
    float* get(std::size_t n) {
        if (n > m_cap) {
            release();
            m_p = static_cast<float*>(::operator new (n * sizeof(float), std::align_val_t{64}));
            m_cap = n;
        }
        return m_p;
    }

private:
    void release() noexcept {
        if (m_p) ::operator delete (m_p, std::align_val_t{64});
        m_p = nullptr, m_cap = 0;
    }

    float* m_p = nullptr;
    std::size_t m_cap = 0;
};

/// The packing buffers of one part of a call.
struct gemm_workspace {
    gemm_buffer a, b;
};

/// The calling thread's workspaces, one per part, grown and kept.
inline std::vector<gemm_workspace>& gemm_workspaces(std::size_t parts) {
    thread_local std::vector<gemm_workspace> ws;
    if (ws.size() < parts) ws.resize(parts);
    return ws;
}

/// Blocking of the vector tiers: k is walked gemm_kc at a time (a micro-panel of packed B stays in
/// L1), A is packed gemm_mc rows at a time (L2) and B gemm_nc columns at a time (L3).
inline constexpr std::size_t gemm_kc = 256;
inline constexpr std::size_t gemm_mc = 336;
inline constexpr std::size_t gemm_nc = 2048;

/// The arguments of one call.
struct gemm_call {
    float sign;  // 1 for add, -1 for subtract (applied to packed A: exact)
    std::size_t m, n, k;
    gemm_operand a, b;
    float* c;
    std::size_t ldc;
    gemm_part part;
};

/// Packs rows [i0, i0 + mc) and k [p0, p0 + kc) of A, times sign, into micro-panels of MR rows:
/// panel q holds (r, p) at q * MR * kc + p * MR + r; rows past mc are zero.
template <class Tile>
void gemm_pack_a(const gemm_call& g, std::size_t i0, std::size_t mc, std::size_t p0, std::size_t kc, float* out) {
    constexpr std::size_t MR = Tile::MR;
    for (std::size_t q0 = 0; q0 < mc; q0 += MR) {
        float* dst = out + q0 * kc;
        const std::size_t rows = std::min(MR, mc - q0);
        if (g.a.col_stride == 1) {  // row-major A: the tile's transposing pack
            Tile::pack_rows(gemm_at(g.a, i0 + q0, p0), g.a.row_stride, rows, kc, g.sign, dst, MR, MR);
            continue;
        }
        for (std::size_t p = 0; p < kc; ++p) {
            const float* src = gemm_at(g.a, i0 + q0, p0 + p);
            for (std::size_t r = 0; r < rows; ++r)
                dst[p * MR + r] = g.sign * src[static_cast<std::ptrdiff_t>(r) * g.a.row_stride];
        }
        if (rows < MR)
            for (std::size_t p = 0; p < kc; ++p) std::fill(dst + p * MR + rows, dst + (p + 1) * MR, 0.0f);
    }
}

/// Packs k [p0, p0 + kc) and columns [j0, j0 + nc) of B into micro-panels of NR columns: panel q
/// holds (p, c) at q * NR * kc + p * NR + c; columns past nc are zero.
template <class Tile>
void gemm_pack_b(const gemm_call& g, std::size_t p0, std::size_t kc, std::size_t j0, std::size_t nc, float* out) {
    constexpr std::size_t NR = Tile::NR, W = Tile::W;
    for (std::size_t q0 = 0; q0 < nc; q0 += NR) {
        float* dst = out + q0 * kc;
        const std::size_t cols = std::min(NR, nc - q0);
        if (g.b.row_stride == 1) {  // B's columns contiguous (a transposed operand): transposing packs
            for (std::size_t h = 0; h < NR; h += W)
                Tile::pack_rows(gemm_at(g.b, p0, j0 + q0 + std::min(h, cols)), g.b.col_stride,
                                cols > h ? std::min(W, cols - h) : 0, kc, 1.0f, dst + h, NR, W);
            continue;
        }
        for (std::size_t p = 0; p < kc; ++p) {
            const float* src = gemm_at(g.b, p0 + p, j0 + q0);
            float* d = dst + p * NR;
            if (g.b.col_stride == 1)
                std::copy(src, src + cols, d);
            else
                for (std::size_t c = 0; c < cols; ++c) d[c] = src[static_cast<std::ptrdiff_t>(c) * g.b.col_stride];
            std::fill(d + cols, d + NR, 0.0f);
        }
    }
}

/// The blocked product for C's rows [r0, r1) and columns [c0, c1) (within the call's part).
template <class Tile>
void gemm_block(const gemm_call& g, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1,
                gemm_workspace& ws) {
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    constexpr std::size_t MC = gemm_mc / MR * MR, NC = gemm_nc / NR * NR, KC = gemm_kc;
    float* const abuf = ws.a.get(MC * KC + 16);  // + the transposing pack's overhang
    float* const bbuf = ws.b.get(NC * KC);
    alignas(64) float tile[MR * NR];
    for (std::size_t jc = c0; jc < c1; jc += NC) {
        const std::size_t nc = std::min(NC, c1 - jc);
        std::size_t ra = r0, rb = r1;  // the rows that reach this column block
        if (g.part == gemm_part::lower) ra = std::max(ra, jc);
        if (g.part == gemm_part::upper) rb = std::min(rb, jc + nc);
        if (ra >= rb) continue;
        for (std::size_t pc = 0; pc < g.k; pc += KC) {
            const std::size_t kc = std::min(KC, g.k - pc);
            gemm_pack_b<Tile>(g, pc, kc, jc, nc, bbuf);
            for (std::size_t ic = ra; ic < rb; ic += MC) {
                const std::size_t mc = std::min(MC, rb - ic);
                gemm_pack_a<Tile>(g, ic, mc, pc, kc, abuf);
                for (std::size_t jr = 0; jr < nc; jr += NR) {
                    const std::size_t j = jc + jr, nr = std::min(NR, nc - jr);
                    const float* bp = bbuf + jr * kc;
                    for (std::size_t ir = 0; ir < mc; ir += MR) {
                        const std::size_t i = ic + ir, mr = std::min(MR, mc - ir);
                        bool whole = mr == MR && nr == NR;
                        if (g.part == gemm_part::lower) {
                            if (j > i + mr - 1) continue;
                            whole = whole && j + nr - 1 <= i;
                        } else if (g.part == gemm_part::upper) {
                            if (j + nr - 1 < i) continue;
                            whole = whole && j >= i + mr - 1;
                        }
                        const float* ap = abuf + ir * kc;
                        float* ct = g.c + i * g.ldc + j;
                        if (whole) {
#if defined(__GNUC__) || defined(__clang__)
                            // the next row tile's C (often not in cache: C is parked between k chunks)
                            for (std::size_t r = MR; r < 2 * MR && i + r < rb; ++r) {
                                __builtin_prefetch(ct + r * g.ldc, 1);
                                __builtin_prefetch(ct + r * g.ldc + (NR - 1), 1);
                            }
#endif
                            Tile::run(kc, ap, bp, ct, g.ldc);
                            continue;
                        }
                        // an edge or diagonal tile: through a full tile, only the part's entries
                        for (std::size_t r = 0; r < MR; ++r)
                            for (std::size_t c = 0; c < NR; ++c) {
                                const bool in = r < mr && c < nr && j + c >= gemm_col_begin(g.part, i + r) &&
                                                j + c < gemm_col_end(g.part, i + r, g.n);
                                tile[r * NR + c] = in ? ct[r * g.ldc + c] : 0.0f;
                            }
                        Tile::run(kc, ap, bp, tile, NR);
                        for (std::size_t r = 0; r < mr; ++r) {
                            const std::size_t cb = std::max(j, gemm_col_begin(g.part, i + r)),
                                              ce = std::min(j + nr, gemm_col_end(g.part, i + r, g.n));
                            for (std::size_t c = cb; c < ce; ++c) ct[r * g.ldc + (c - j)] = tile[r * NR + (c - j)];
                        }
                    }
                }
            }
        }
    }
}

/// Splits C among parts and runs gemm_block on each.
template <class Tile>
void gemm_blocked(const gemm_call& g, unsigned threads) {
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    const double flops = 2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k);
    // at least ~4 MFLOP per part, so a thread start (tens of microseconds) stays small
    const auto by_work = static_cast<std::size_t>(std::max(1.0, flops / 4.0e6));
    const bool by_rows = g.part != gemm_part::full || g.m >= g.n;
    const std::size_t units = by_rows ? (g.m + MR - 1) / MR : (g.n + NR - 1) / NR;
    const auto parts =
        static_cast<unsigned>(std::min<std::size_t>({static_cast<std::size_t>(std::max(threads, 1u)), units, by_work}));
    std::vector<gemm_workspace>& ws = gemm_workspaces(parts);
    if (parts <= 1) return gemm_block<Tile>(g, 0, g.m, 0, g.n, ws[0]);
    // part boundaries in units (tiles of rows or columns), balancing the entries each part writes
    std::size_t bounds[65] = {};
    const unsigned np = std::min(parts, 64u);
    auto weight = [&](std::size_t u) -> double {
        if (!by_rows || g.part == gemm_part::full) return 1.0;
        const std::size_t i = u * MR;
        return g.part == gemm_part::lower ? static_cast<double>(std::min(g.n, i + MR))
                                          : static_cast<double>(g.n > i ? g.n - i : 0);
    };
    double total = 0;
    for (std::size_t u = 0; u < units; ++u) total += weight(u);
    {
        double acc = 0;
        unsigned p = 1;
        for (std::size_t u = 0; u < units && p < np; ++u) {
            acc += weight(u);
            while (p < np && acc >= total * p / np) bounds[p++] = u + 1;
        }
        while (p < np) bounds[p++] = units;
        bounds[np] = units;
    }
    ::nnprune::detail::parallel_for(np, np, [&](std::size_t b, std::size_t e, unsigned) {
        for (std::size_t p = b; p < e; ++p) {
            if (by_rows) {
                const std::size_t r0 = std::min(g.m, bounds[p] * MR), r1 = std::min(g.m, bounds[p + 1] * MR);
                if (r0 < r1) gemm_block<Tile>(g, r0, r1, 0, g.n, ws[p]);
            } else {
                const std::size_t c0 = std::min(g.n, bounds[p] * NR), c1 = std::min(g.n, bounds[p + 1] * NR);
                if (c0 < c1) gemm_block<Tile>(g, 0, g.m, c0, c1, ws[p]);
            }
        }
    });
}

}  // namespace detail

/**
 * @brief For i < m, j < n (and (i, j) in `part`): C(i, j) is updated k terms at a time in
 * ascending k, each term fused: c = fma(a_ik, b_kj, c) (add) or c = fma(-a_ik, b_kj, c)
 * (subtract), starting from C's value. C is row-major with leading dimension ldc. Bit-identical
 * to reference::gemm on every tier and for any `threads` (each C entry computed by one thread in
 * that order). Entries outside `part` are neither read nor written.
 */
inline void gemm(gemm_op op, std::size_t m, std::size_t n, std::size_t k, gemm_operand a, gemm_operand b, float* c,
                 std::size_t ldc, gemm_part part = gemm_part::full, unsigned threads = 1) {
    if (m == 0 || n == 0 || k == 0) return;
#if NNPRUNE_SIMD_X86
    const detail::gemm_call g{op == gemm_op::subtract ? -1.0f : 1.0f, m, n, k, a, b, c, ldc, part};
    switch (active_isa()) {
        case isa::avx512:
            return detail::gemm_blocked<avx512::gemm_tile>(g, threads);
        case isa::avx2:
            return detail::gemm_blocked<avx2::gemm_tile>(g, threads);
        case isa::scalar:
            break;
    }
#else
    (void)threads;
#endif
    reference::gemm(op, m, n, k, a, b, c, ldc, part);
}

/**
 * @brief Triangular solve X·Lᵀ = B in place, for the `rows` rows of X stored by columns (column q
 * of X at x + q * ldx, rows contiguous) and the lower triangular w x w matrix L (row-major, leading
 * dimension ldl). Each entry is computed in one fixed order, on every tier:
 *   x_iq = (b_iq − Σ_{p<q} x_ip·l_qp) / l_qq,   the sum in ascending p, each term fused
 * (x_iq = fma(−x_ip, l_qp, x_iq), then one division), so the result is bit-identical to
 * reference::trsm_right_lower_t. linalg::cholesky_lower solves its panels with it.
 */
inline void trsm_right_lower_t(float* x, std::size_t ldx, std::size_t rows, std::size_t w, const float* l,
                               std::size_t ldl) noexcept {
    std::size_t done = 0;
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            done = avx512::trsm_right_lower_t(x, ldx, rows, w, l, ldl);
            break;
        case isa::avx2:
            done = avx2::trsm_right_lower_t(x, ldx, rows, w, l, ldl);
            break;
        case isa::scalar:
            break;
    }
#endif
    if (done < rows) reference::trsm_right_lower_t(x, ldx, rows, w, l, ldl, done);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_GEMM_HPP
