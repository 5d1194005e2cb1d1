#ifndef NNPRUNE_RECONSTRUCT_SPARSEGPT_HPP
#define NNPRUNE_RECONSTRUCT_SPARSEGPT_HPP

/// @file sparsegpt.hpp
/// SparseGPT (algorithms.md §9): prunes a Linear's weights W [out, in] and updates the kept ones
/// to minimise the layer's reconstruction error, from the Hessian H = (2/N) Σ x xᵀ of its inputs
/// (hessian_accumulator). sparsegpt_prune chooses the mask during the column sweep;
/// sparsegpt_update runs the same update for a mask chosen by another method (Wanda + OBS).
///
/// The reference factors H⁻¹ (cholesky, cholesky_inverse, cholesky again: 4/3·in³ flops) and
/// sweeps right-looking with U, the upper Cholesky factor of H⁻¹. Here one Cholesky of H taken
/// from its last column, H = V·Vᵀ with V upper (in³/3 flops), is enough, because V = U⁻¹. With
/// d_i = w_i − q_i (the original weight minus the value kept), the reference's running weight
/// of column j, once the columns before it are swept, is w_j + (Σ_{i<j} d_i·V_ij) / V_jj, and
/// U_jj = 1 / V_jj. So the sweep is left-looking: before each block one GEMM adds every earlier
/// column's d into the block's sums; inside the block, fused rank-1 steps. The saliencies that
/// choose the mask are taken, as in the reference, at the start of a block (unstructured) or of
/// an N:M group, when the later columns have seen only part of the sum: there the running
/// weights are W + X with X·V_GG = S, a small triangular solve with V's diagonal block. Everything is float32, as in
/// the reference, and every sum has one fixed order (simd::gemm, simd::axpy): identical results for any thread count
/// and SIMD tier.
///
/// Validate before mutate: the weights and the mask are written only once the whole layer has
/// succeeded; a failure (bad input, a Hessian that is not positive definite after damping)
/// throws and leaves both as they were.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/buffer.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/layer.hpp"
#include "../core/tensor_ref.hpp"
#include "../detail/parallel.hpp"
#include "../linalg/cholesky.hpp"
#include "../masks/mask.hpp"
#include "../scorers/scorer.hpp"
#include "../select/kth.hpp"
#include "../select/options.hpp"
#include "../select/per_row.hpp"
#include "../select/per_tensor.hpp"
#include "../simd/axpy.hpp"
#include "../simd/gemm.hpp"
#include "reconstructor.hpp"

namespace nnprune {

/// How sparsegpt_prune chooses an unstructured mask inside each block of columns.
enum class sparsegpt_mask {
    block,     ///< exactly k = count_to_prune(rows·width, s) per block, ties to the lower flat index
    row,       ///< exactly k = count_to_prune(width, s) per row of each block: uniform row sparsity
    upstream,  ///< the reference: prune score <= sort(score)[int(numel·s)] per block (k+1 plus ties)
};

struct sparsegpt_options {
    double sparsity = 0.5;    ///< unstructured: the fraction pruned (ignored for N:M)
    std::size_t keep_n = 0;   ///< N:M: N kept of every M consecutive inputs ...
    std::size_t group_m = 0;  ///< ... M (0: unstructured). The reference's prunen is M − N.
    sparsegpt_mask selection = sparsegpt_mask::block;
    rounding round = rounding::truncate;  ///< k from a ratio (block, row): int(n·s), as the reference
    std::size_t blocksize = 128;          ///< columns per lazy batch (N:M: a multiple of M)
    double percdamp = 0.01;               ///< λ = percdamp · mean(diag H) is added to H's diagonal
    unsigned threads = 1;                 ///< identical results for any count
    std::string_view name;                ///< the layer's name, for messages
};

struct sparsegpt_report {
    double loss = 0.0;             ///< Σ (w − q)² / U_jj² / 2: the reference's error estimate
    double damp = 0.0;             ///< λ added to the diagonal
    std::size_t dead_columns = 0;  ///< inputs with H_jj = 0 (their weights are zeroed)
    std::size_t pruned = 0;        ///< weights pruned
};

namespace detail {
struct sparsegpt_run;
}

/// Buffers of sparsegpt_prune / sparsegpt_update, kept between calls so that the layers of a
/// model reuse them (the factor alone is in² floats). Not shareable between concurrent calls.
class sparsegpt_workspace {
public:
    /// Bytes currently held.
    [[nodiscard]] std::size_t bytes() const noexcept {
        return (m_factor.capacity() + m_w.capacity() + m_d.capacity() + m_sums.capacity() + m_start.capacity() +
                m_scores.capacity() + m_diag.capacity()) *
                   sizeof(float) +
               m_pruned.capacity() + m_select.bytes();
    }

private:
    friend struct detail::sparsegpt_run;
    std::vector<float> m_factor;         // the lower Cholesky factor of J·H·J: factor(n−1−i, n−1−j) = V(i, j)
    std::vector<float> m_diag;           // V_jj
    std::vector<float> m_w;              // the weights, column-major (in x out); becomes q
    std::vector<float> m_d;              // w − q, column-major
    std::vector<float> m_sums;           // a block's Σ d_i·V_ij, column-major (width x out)
    std::vector<float> m_start;          // running weights at a block's or group's start, as m_sums
    std::vector<float> m_scores;         // a block's saliencies, row-major (out x width)
    std::vector<std::uint8_t> m_pruned;  // 1 = pruned, column-major (in x out)
    std::vector<char> m_dead;
    std::vector<double> m_losses;  // per row
    mask m_block_mask;
    select_workspace m_select;
};

namespace detail {

/// One layer of sparsegpt_prune (given empty) or sparsegpt_update.
struct sparsegpt_run {
    const tensor_ref& weights;
    const tensor_ref& hessian;
    const sparsegpt_options& o;
    sparsegpt_workspace& ws;
    std::string_view fn;
    bool choose;            // sparsegpt_prune: the sweep chooses the mask
    const_mask_view given;  // sparsegpt_update's mask
    std::size_t rows = 0, cols = 0;

    [[nodiscard]] std::string where() const {
        return o.name.empty() ? std::string(fn) : str(fn, ": layer '", o.name, "'");
    }

    [[nodiscard]] bool nm() const noexcept { return o.group_m != 0; }

    [[nodiscard]] unsigned row_parts() const noexcept { return parts_for(rows, o.threads, 256); }

    /// f(r0, r1) over chunks of rows, the parts in parallel: a block's per-row work is done
    /// chunk by chunk so that its sums stay in cache (each row's arithmetic is its own: the same
    /// bits for any chunking and thread count).
    template <class F>
    void for_row_chunks(F&& f) const {
        constexpr std::size_t chunk = 256;
        parallel_for(rows, row_parts(), [&](std::size_t r0, std::size_t r1, unsigned) {
            for (std::size_t r = r0; r < r1; r += chunk) f(r, std::min(r + chunk, r1));
        });
    }

    /// Every check that needs no arithmetic on the values.
    void validate(const nnprune::shape* out) {
        NNPRUNE_CHECK(weights.rank() >= 2 && weights.has_matrix(), shape_error,
                      str(where(),
                          ": the weights must be a matrix [out, in] (or a tensor whose trailing dimensions "
                          "merge), got ",
                          weights.shape()));
        NNPRUNE_PRECONDITION(!weights.readonly(), str(where(), ": the weights are read-only"));
        rows = weights.shape().rows();
        cols = weights.shape().cols();
        NNPRUNE_CHECK(hessian.rank() == 2 && hessian.extent(0) == cols && hessian.extent(1) == cols, shape_error,
                      str(where(), ": the Hessian is ", hessian.shape(), "; weights ", weights.shape(), " need [", cols,
                          ", ", cols, "]"));
        const nnprune::shape& ms = out ? *out : given.shape();
        NNPRUNE_CHECK(ms == weights.shape(), shape_error,
                      str(where(), ": the mask is ", ms, ", the weights ", weights.shape()));
        NNPRUNE_PRECONDITION(o.sparsity >= 0.0 && o.sparsity <= 1.0,
                             str(where(), ": sparsity must be in [0, 1], got ", o.sparsity));
        NNPRUNE_PRECONDITION(o.blocksize >= 1, str(where(), ": blocksize must be at least 1"));
        NNPRUNE_PRECONDITION(std::isfinite(o.percdamp) && o.percdamp >= 0.0,
                             str(where(), ": percdamp must be finite and >= 0, got ", o.percdamp));
        if (nm()) {
            NNPRUNE_PRECONDITION(o.group_m <= 64,
                                 str(where(), ": N:M groups are at most 64 wide, got M = ", o.group_m));
            NNPRUNE_PRECONDITION(o.keep_n <= o.group_m, str(where(), ": N:M keeps N = ", o.keep_n,
                                                            " of every M = ", o.group_m, "; N must be at most M"));
            NNPRUNE_PRECONDITION(o.blocksize % o.group_m == 0,
                                 str(where(), ": blocksize ", o.blocksize, " is not a multiple of M = ", o.group_m));
            NNPRUNE_CHECK(cols % o.group_m == 0, shape_error,
                          str(where(), ": ", cols, " input columns are not a multiple of M = ", o.group_m));
        } else {
            NNPRUNE_PRECONDITION(o.keep_n == 0, str(where(), ": keep_n = ", o.keep_n, " needs group_m (N:M)"));
        }
    }

    /// J·H·J into the factor's lower triangle, dead columns set to 1, damped, factored.
    void factor(sparsegpt_report& rep) {
        const std::size_t n = cols;
        grow_buffer(ws.m_factor, n * n);
        grow_buffer(ws.m_diag, n);
        ws.m_dead.assign(n, 0);
        float* f = ws.m_factor.data();
        // row a of the lower triangle holds a + 1 entries: parts split the area evenly
        const unsigned parts = parts_for(n, o.threads, 256);
        std::vector<std::size_t> bad(parts, n * n);  // each part's first non-finite entry of f
        visit_matrix(hessian, [&](auto hm) {
            parallel_for(parts, parts, [&](std::size_t p0, std::size_t, unsigned) {
                auto edge = [&](std::size_t p) {
                    return static_cast<std::size_t>(double(n) * std::sqrt(double(p) / double(parts)));
                };
                const std::size_t a0 = p0 == 0 ? 0 : edge(p0), a1 = p0 + 1 == parts ? n : edge(p0 + 1);
                for (std::size_t a = a0; a < a1 && bad[p0] == n * n; ++a)
                    for (std::size_t b = 0; b <= a; ++b) {  // (a, b) of J·H·J is H(n−1−a, n−1−b): H's upper triangle
                        const float x = to_float(hm(n - 1 - a, n - 1 - b));
                        if (!std::isfinite(x)) {
                            bad[p0] = a * n + b;
                            break;
                        }
                        f[a * n + b] = x;
                    }
            });
        });
        const std::size_t first = *std::min_element(bad.begin(), bad.end());
        NNPRUNE_CHECK(first == n * n, value_error,
                      str(where(), ": the Hessian is NaN or Inf (or past float32) at (", n - 1 - first / n, ", ",
                          n - 1 - first % n, ")"));
        double trace = 0.0;
        for (std::size_t j = 0; j < n; ++j) {
            float& h = f[(n - 1 - j) * (n + 1)];
            NNPRUNE_CHECK(h >= 0.0f, value_error,
                          str(where(), ": the Hessian's diagonal is negative at input ", j, " (", h,
                              "); a Hessian of inputs has a non-negative diagonal"));
            if (h == 0.0f) {  // dead input: H_jj = 1, W[:, j] = 0
                h = 1.0f;
                ws.m_dead[j] = 1;
                ++rep.dead_columns;
            }
            trace += static_cast<double>(h);
        }
        const auto damp = static_cast<float>(o.percdamp * static_cast<double>(static_cast<float>(trace / double(n))));
        rep.damp = damp;
        for (std::size_t a = 0; a < n; ++a) f[a * (n + 1)] += damp;
        const std::size_t fail = linalg::cholesky_lower(f, n, n, o.threads);
        NNPRUNE_CHECK(fail == n, value_error,
                      str(where(),
                          ": the damped Hessian is not positive definite (the Cholesky factorisation failed at "
                          "input column ",
                          n - 1 - fail, "; damping λ = ", damp, " from percdamp ", o.percdamp,
                          "); raise percdamp (e.g. 0.1) or calibrate on more samples"));
        for (std::size_t j = 0; j < n; ++j) ws.m_diag[j] = f[(n - 1 - j) * (n + 1)];
    }

    /// V(i, j), i <= j.
    [[nodiscard]] float v(std::size_t i, std::size_t j) const noexcept {
        return ws.m_factor[(cols - 1 - i) * cols + (cols - 1 - j)];
    }

    /// The weights into ws.m_w, column-major and widened; dead columns zeroed; the given mask
    /// into ws.m_pruned.
    void load() {
        grow_buffer(ws.m_w, rows * cols);
        grow_buffer(ws.m_d, rows * cols);
        grow_buffer(ws.m_pruned, rows * cols);
        float* wt = ws.m_w.data();
        std::vector<std::size_t> bad(row_parts(), rows * cols);
        visit_matrix(weights, [&](auto wm) {
            parallel_for(rows, row_parts(), [&](std::size_t r0, std::size_t r1, unsigned p) {
                constexpr std::size_t t = 32;
                for (std::size_t rb = r0; rb < r1; rb += t)
                    for (std::size_t c0 = 0; c0 < cols; c0 += t)
                        for (std::size_t r = rb; r < std::min(rb + t, r1); ++r)
                            for (std::size_t c = c0; c < std::min(c0 + t, cols); ++c) {
                                const float x = to_float(wm(r, c));
                                if (!std::isfinite(x)) bad[p] = std::min(bad[p], r * cols + c);
                                wt[c * rows + r] = x;
                            }
            });
        });
        const std::size_t first = *std::min_element(bad.begin(), bad.end());
        NNPRUNE_CHECK(
            first == rows * cols, value_error,
            str(where(), ": weight (", first / cols, ", ", first % cols, ") is NaN or Inf (or past float32)"));
        if (!choose) {
            std::uint8_t* pr = ws.m_pruned.data();
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < cols; ++c) pr[c * rows + r] = !given.test(r * cols + c);
        }
    }

    void zero_dead() {
        for (std::size_t c = 0; c < cols; ++c)
            if (ws.m_dead[c]) std::fill_n(ws.m_w.data() + c * rows, rows, 0.0f);
    }

    /// ws.m_sums = Σ_{i < c0} d_i·V(i, c0 + j) for the block's columns j.
    void block_sums(std::size_t c0, std::size_t width) {
        grow_buffer(ws.m_sums, width * rows);
        grow_buffer(ws.m_start, width * rows);
        float* s = ws.m_sums.data();
        std::fill_n(s, width * rows, 0.0f);
        if (c0 == 0) return;
        const auto n = static_cast<std::ptrdiff_t>(cols);
        // A(j, i) = V(i, c0 + j) = factor[(n−1−i)·n + n−1−c0−j]; B(i, r) = d[i·rows + r]
        const simd::gemm_operand a{ws.m_factor.data() + (cols - 1) * cols + (cols - 1 - c0), -1, -n};
        const simd::gemm_operand b{ws.m_d.data(), static_cast<std::ptrdiff_t>(rows), 1};
        simd::gemm(simd::gemm_op::add, width, rows, c0, a, b, s, rows, simd::gemm_part::full, o.threads);
    }

    /// The reference's running weights of columns [c, c + m) (block columns [j, j + m)) at rows
    /// [r0, r1), as they stand once every column before c has been swept: with S the sums of
    /// those columns so far (Σ_{i<c} d_i·V_ij), W1 = W + X where X·V_GG = S and V_GG is V's
    /// m x m diagonal block (U = V⁻¹ restricted to the later columns). Into ws.m_start.
    void start_values(std::size_t c, std::size_t j, std::size_t m, std::size_t r0, std::size_t r1) const {
        const std::size_t len = r1 - r0;
        for (std::size_t a = 0; a < m; ++a) {
            float* x = ws.m_start.data() + (j + a) * rows + r0;
            std::copy_n(ws.m_sums.data() + (j + a) * rows + r0, len, x);
            for (std::size_t b = 0; b < a; ++b)
                simd::axpy(-v(c + b, c + a), ws.m_start.data() + (j + b) * rows + r0, x, len);
            const float vd = ws.m_diag[c + a];
            for (std::size_t r = 0; r < len; ++r) x[r] /= vd;
        }
        for (std::size_t a = 0; a < m; ++a) {
            float* x = ws.m_start.data() + (j + a) * rows + r0;
            const float* w = ws.m_w.data() + (c + a) * rows + r0;
            for (std::size_t r = 0; r < len; ++r) x[r] = w[r] + x[r];
        }
    }

    /// The saliency W1² / U_jj² of a running weight of column c.
    [[nodiscard]] float saliency(float w1, std::size_t c) const noexcept {
        const float u = 1.0f / ws.m_diag[c];
        return (w1 * w1) / (u * u);
    }

    /// An unstructured block's mask, from its saliencies at the start of the block.
    void choose_block(std::size_t c0, std::size_t width) {
        grow_buffer(ws.m_scores, rows * width);
        float* s = ws.m_scores.data();
        for_row_chunks([&](std::size_t r0, std::size_t r1) {
            start_values(c0, 0, width, r0, r1);
            for (std::size_t j = 0; j < width; ++j) {
                const float* w1 = ws.m_start.data() + j * rows;
                for (std::size_t r = r0; r < r1; ++r) s[r * width + j] = saliency(w1[r], c0 + j);
            }
        });
        std::uint8_t* pr = ws.m_pruned.data() + c0 * rows;
        if (o.selection == sparsegpt_mask::upstream) {
            const std::size_t numel = rows * width;
            const auto at = static_cast<std::size_t>(static_cast<double>(numel) * o.sparsity);
            float thr = std::numeric_limits<float>::infinity();  // s = 1: everything
            if (at < numel) {  // the at-th smallest saliency (0-based), by the selection engine
                select_options so;
                so.threads = o.threads;
                so.workspace = &ws.m_select;
                thr = static_cast<float>(kth_smallest(matrix_view<const float>(s, {rows, width}), at + 1, so));
            }
            for (std::size_t j = 0; j < width; ++j)
                for (std::size_t r = 0; r < rows; ++r) pr[j * rows + r] = s[r * width + j] <= thr;
            return;
        }
        ws.m_block_mask.reset(nnprune::shape{rows, width}, true);
        select_options so;
        so.round = o.round;
        so.threads = o.threads;
        so.workspace = &ws.m_select;
        so.name = o.name;
        const matrix_view<const float> scores(s, {rows, width});
        if (o.selection == sparsegpt_mask::block)
            select_mask(scores, per_tensor{}, o.sparsity, ws.m_block_mask.view(), so);
        else
            select_mask(scores, per_row{}, o.sparsity, ws.m_block_mask.view(), so);
        const const_mask_view m = ws.m_block_mask.view();
        parallel_for(rows, row_parts(), [&](std::size_t r0, std::size_t r1, unsigned) {
            for (std::size_t r = r0; r < r1; ++r)
                for (std::size_t j = 0; j < width; ++j) pr[j * rows + r] = !m.test(r * width + j);
        });
    }

    /// N:M at the group starting at block column j: the M − N smallest saliencies of each row,
    /// as they stand at that column, are pruned; ties to the lower column.
    void choose_group(std::size_t c0, std::size_t j, std::size_t r0, std::size_t r1) const {
        const std::size_t m = o.group_m, drop = o.group_m - o.keep_n, c = c0 + j;
        start_values(c, j, m, r0, r1);
        std::uint8_t* pr = ws.m_pruned.data();  // ws is a reference: writable here
        constexpr std::size_t max_m = 64;
        float sal[max_m];
        for (std::size_t r = r0; r < r1; ++r) {
            for (std::size_t g = 0; g < m; ++g) {
                sal[g] = saliency(ws.m_start[(j + g) * rows + r], c + g);
                pr[(c + g) * rows + r] = 0;
            }
            for (std::size_t k = 0; k < drop; ++k) {  // the smallest not yet pruned, lower column first
                std::size_t best = m;
                for (std::size_t g = 0; g < m; ++g)
                    if (!pr[(c + g) * rows + r] && (best == m || sal[g] < sal[best])) best = g;
                pr[(c + best) * rows + r] = 1;
            }
        }
    }

    /// The block's columns one by one over rows [r0, r1): q, d, the loss, and the rank-1 steps
    /// into the block's later sums.
    void sweep_block(std::size_t c0, std::size_t width, std::size_t r0, std::size_t r1) const {
        float* wt = ws.m_w.data();
        float* dt = ws.m_d.data();
        float* sums = ws.m_sums.data();
        const std::uint8_t* pr = ws.m_pruned.data();
        const std::size_t len = r1 - r0;
        double* loss = ws.m_losses.data();
        for (std::size_t j = 0; j < width; ++j) {
            const std::size_t c = c0 + j;
            if (choose && nm() && j % o.group_m == 0) choose_group(c0, j, r0, r1);
            const float vd = ws.m_diag[c], u = 1.0f / vd;
            float* w = wt + c * rows;
            float* d = dt + c * rows;
            const float* sj = sums + j * rows;
            const std::uint8_t* p = pr + c * rows;
            for (std::size_t r = r0; r < r1; ++r) {
                const float cur = w[r] + sj[r] / vd;  // the reference's W1[r, j] at this column
                const float q = p[r] ? 0.0f : cur;
                const float e = (cur - q) / u;
                loss[r] += static_cast<double>(e) * static_cast<double>(e);
                d[r] = w[r] - q;
                w[r] = q;
            }
            for (std::size_t k = j + 1; k < width; ++k) simd::axpy(v(c, c0 + k), d + r0, sums + k * rows + r0, len);
        }
    }

    /// Weights and mask out, once everything succeeded.
    void store(mask_view* out, sparsegpt_report& rep) {
        const float* wt = ws.m_w.data();
        const std::uint8_t* pr = ws.m_pruned.data();
        const std::size_t n = rows * cols;
        const unsigned parts = parts_for(n, o.threads, std::size_t{1} << 16);
        std::vector<std::size_t> bad(parts, n), pruned(parts, 0);
        parallel_for(n, parts, [&](std::size_t i0, std::size_t i1, unsigned p) {
            for (std::size_t i = i0; i < i1; ++i) pruned[p] += pr[i];
            for (std::size_t i = i0; i < i1; ++i)
                if (!std::isfinite(wt[i])) {
                    bad[p] = i;
                    break;
                }
        });
        const std::size_t first = *std::min_element(bad.begin(), bad.end());
        NNPRUNE_CHECK(first == n, value_error,
                      str(where(), ": the updated weight (", first % rows, ", ", first / rows,
                          ") overflowed float32; raise percdamp"));
        visit_matrix<true>(weights, [&](auto wm) {
            using T = std::remove_cvref_t<decltype(wm(0, 0))>;
            parallel_for(rows, row_parts(), [&](std::size_t r0, std::size_t r1, unsigned) {
                constexpr std::size_t t = 32;
                for (std::size_t rb = r0; rb < r1; rb += t)
                    for (std::size_t c0 = 0; c0 < cols; c0 += t)
                        for (std::size_t r = rb; r < std::min(rb + t, r1); ++r)
                            for (std::size_t c = c0; c < std::min(c0 + t, cols); ++c)
                                wm(r, c) = from_double<T>(static_cast<double>(wt[c * rows + r]));
            });
        });
        rep.pruned = 0;
        for (std::size_t x : pruned) rep.pruned += x;
        if (!out) return;
        const std::span<std::uint64_t> words = out->words();  // whole words per part: no shared word
        parallel_for(words.size(), parts_for(words.size(), o.threads, 1024),
                     [&](std::size_t w0, std::size_t w1, unsigned) {
                         std::size_t r = w0 * 64 / cols, c = w0 * 64 % cols;  // element (r, c) = bit i, walked along
                         for (std::size_t wi = w0; wi < w1; ++wi) {
                             std::uint64_t bits = words[wi];
                             for (std::size_t k = 0; k < 64 && wi * 64 + k < n; ++k) {
                                 const std::uint64_t bit = std::uint64_t{1} << k;
                                 bits = pr[c * rows + r] ? bits & ~bit : bits | bit;
                                 if (++c == cols) c = 0, ++r;
                             }
                             words[wi] = bits;
                         }
                     });
    }

    sparsegpt_report run(mask_view* out) {
        validate(out ? &out->shape() : nullptr);
        sparsegpt_report rep;
        if (rows == 0 || cols == 0) return rep;
        factor(rep);
        load();
        zero_dead();
        ws.m_losses.assign(rows, 0.0);
        for (std::size_t c0 = 0; c0 < cols; c0 += o.blocksize) {
            const std::size_t width = std::min(o.blocksize, cols - c0);
            block_sums(c0, width);
            if (choose && !nm()) choose_block(c0, width);
            for_row_chunks([&](std::size_t r0, std::size_t r1) { sweep_block(c0, width, r0, r1); });
        }
        double loss = 0.0;  // row by row: the same sum for any thread count
        for (double l : ws.m_losses) loss += l;
        rep.loss = loss / 2.0;
        store(out, rep);
        return rep;
    }
};

}  // namespace detail

/**
 * @brief SparseGPT on one layer: chooses the mask in the column sweep (unstructured by
 * o.selection, or N:M) and updates the kept weights in place; writes the mask (true = kept).
 * @param weights [out, in] (Conv weights [K, C, R, S] as [K, C·R·S]), f32/f64/bf16/f16, writable,
 *        any strides; computed in float32 and written back rounded.
 * @param hessian [in, in], any element type (hessian_accumulator::hessian()).
 * @throws shape_error, precondition_error, value_error (NaN/Inf input, a negative diagonal, a
 *         factorisation that fails: raise percdamp); nothing is written then.
 */
inline sparsegpt_report sparsegpt_prune(const tensor_ref& weights, const tensor_ref& hessian, mask_view mask,
                                        const sparsegpt_options& o = {}, sparsegpt_workspace* ws = nullptr) {
    sparsegpt_workspace local;
    detail::sparsegpt_run run{weights, hessian, o, ws ? *ws : local, "sparsegpt_prune", true, {}};
    return run.run(&mask);
}

/**
 * @brief The SparseGPT (OBS) update for a given mask (true = kept; e.g. Wanda's): pruned
 * weights become 0 and the kept ones are updated as in sparsegpt_prune. o.sparsity, keep_n,
 * group_m and selection are not used.
 * @throws as sparsegpt_prune; nothing is written then.
 */
inline sparsegpt_report sparsegpt_update(const tensor_ref& weights, const tensor_ref& hessian, const_mask_view mask,
                                         const sparsegpt_options& o = {}, sparsegpt_workspace* ws = nullptr) {
    sparsegpt_options u = o;
    u.keep_n = u.group_m = 0;
    sparsegpt_workspace local;
    detail::sparsegpt_run run{weights, hessian, u, ws ? *ws : local, "sparsegpt_update", false, mask};
    return run.run(nullptr);
}

/**
 * @brief SparseGPT as prune()'s reconstruction step (prune_options::reconstruct), with each
 * layer's Hessian in layer::hessian and prune_options::apply set.
 * - choose_mask = false (the default): the OBS update for the mask prune() selected (magnitude,
 *   Wanda, any scorer and pattern, any allocation): "Wanda + reconstruction".
 * - choose_mask = true: SparseGPT itself, as sparsegpt_prune: prune()'s scorer is not used; each
 *   layer's fraction comes from the allocation (a ratio) and an N:M pattern makes it N:M; the
 *   unstructured selection is options.selection.
 * options.sparsity, keep_n and group_m are taken from prune(); options.threads from
 * prune_options::threads when it is larger.
 */
struct sparsegpt_step {
    sparsegpt_options options;
    bool choose_mask = false;
    std::shared_ptr<sparsegpt_workspace> workspace = std::make_shared<sparsegpt_workspace>();

    [[nodiscard]] bool writes_weights() const noexcept { return true; }

    [[nodiscard]] bool chooses_mask() const noexcept { return choose_mask; }

    void validate(const layer& l, const reconstruct_context& c) const {
        NNPRUNE_PRECONDITION(l.hessian.has_value(),
                             detail::str("sparsegpt_step: layer '", l.name, "' has no Hessian (layer::hessian)"));
        validate(l);
        if (choose_mask && c.group_m == 0)
            NNPRUNE_PRECONDITION(!c.target.is_count(),
                                 detail::str("sparsegpt_step: layer '", l.name,
                                             "': SparseGPT's own mask needs a sparsity ratio, not an exact count"));
    }

    void reconstruct(const layer& l, mask_view m, const reconstruct_context& c) const {
        validate(l, c);
        sparsegpt_options o = options;
        o.name = l.name;
        o.threads = std::max(o.threads, c.threads);
        if (!choose_mask) {
            sparsegpt_update(l.weights, *l.hessian, m, o, workspace.get());
            return;
        }
        o.keep_n = c.keep_n;
        o.group_m = c.group_m;
        if (c.group_m == 0) o.sparsity = c.target.ratio();
        sparsegpt_prune(l.weights, *l.hessian, m, o, workspace.get());
    }

private:
    static void validate(const layer& l) { nnprune::validate(l); }
};

}  // namespace nnprune

#endif  // NNPRUNE_RECONSTRUCT_SPARSEGPT_HPP
