#ifndef NNPRUNE_CALIBRATION_HESSIAN_ACCUMULATOR_HPP
#define NNPRUNE_CALIBRATION_HESSIAN_ACCUMULATOR_HPP

/// @file hessian_accumulator.hpp
/// SparseGPT's layer Hessian (algorithms.md §9), accumulated from calibration batches [T, in] (one
/// sequence, B = 1) or [B, T, in] (B sequences) of any element type and strides. Per call, as the
/// reference (float32 by default):
///   H *= n / (n + B);  n += B;  X' = sqrt(2 / n) · X;  H += X'ᵀ X'
/// so H = (2 / N_sequences) · Σ over all tokens of x xᵀ. The ratio and the scale are Python floats
/// applied to float32 tensors, i.e. rounded to float first; X' is rounded to float32.
///
/// The f32 rank-k update is simd::gemm on the upper triangle only (A = X'ᵀ through strides), fed
/// with X' a chunk of tokens at a time; the chunks continue each entry's fused chain in ascending
/// token order, so H's bits do not depend on the chunking, the tier or the thread count. The
/// lower triangle is mirrored after each call. `hessian_precision::f64` keeps H and X' in double
/// and uses a plain blocked loop (one triangle, the same bits for any thread count; whether the
/// compiler contracts its h + a·b into an fma, e.g. under -march=native, may change the last bit).
/// Input is validated before anything changes: a bad call leaves H and n as they were.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"
#include "../detail/parallel.hpp"
#include "../simd/gemm.hpp"

namespace nnprune {

/// The element type of a hessian_accumulator's H.
enum class hessian_precision { f32, f64 };

/**
 * @brief SparseGPT Hessian accumulator for one Linear layer with `in` input features.
 * @code
 * nnprune::hessian_accumulator acc(4096);
 * for (auto& seq : calibration) acc.add(nnprune::matrix_view<const float>(seq.data(), 2048, 4096));
 * nnprune::tensor_ref h = acc.hessian();   // [4096, 4096] f32, symmetric
 * @endcode
 */
class hessian_accumulator {
public:
    hessian_accumulator() = default;

    explicit hessian_accumulator(std::size_t in, hessian_precision p = hessian_precision::f32, unsigned threads = 1)
        : m_in(in), m_prec(p), m_threads(threads) {
        if (p == hessian_precision::f32)
            m_h32.assign(in * in, 0.0f);
        else
            m_h64.assign(in * in, 0.0);
    }

    [[nodiscard]] std::size_t features() const noexcept { return m_in; }

    /// Sequences seen so far (the reference's nsamples).
    [[nodiscard]] std::uint64_t samples() const noexcept { return m_n; }

    [[nodiscard]] hessian_precision precision() const noexcept { return m_prec; }

    /**
     * @brief Adds one call: x is [T, in] (one sequence, B = 1) or [B, T, in] (B sequences).
     * @throws shape_error when the rank is not 2 or 3 or the last extent is not `in`;
     *         value_error on a NaN or Inf activation, or one whose square overflows (f32: in float,
     *         f64: in double). Nothing changes then.
     */
    void add(const tensor_ref& x) {
        NNPRUNE_CHECK(x.rank() == 2 || x.rank() == 3, shape_error,
                      detail::str("hessian_accumulator::add: batch must be [T, in] or [B, T, in], got ", x.shape()));
        NNPRUNE_CHECK(x.extent(x.rank() - 1) == m_in, shape_error,
                      detail::str("hessian_accumulator::add: batch ", x.shape(), " has ", x.extent(x.rank() - 1),
                                  " features, the accumulator has ", m_in));
        const std::uint64_t b = x.rank() == 3 ? x.extent(0) : 1;
        if (b == 0) return;
        const std::size_t tokens = m_in == 0 ? 0 : x.size() / m_in;
        const std::size_t per_seq = x.extent(x.rank() - 2);
        const std::ptrdiff_t inner = x.stride(x.rank() - 1);
        // element offset of token t's first feature
        auto row_offset = [&](std::size_t t) -> std::ptrdiff_t {
            if (x.rank() == 2) return static_cast<std::ptrdiff_t>(t) * x.stride(0);
            return static_cast<std::ptrdiff_t>(t / per_seq) * x.stride(0) +
                   static_cast<std::ptrdiff_t>(t % per_seq) * x.stride(1);
        };
        const bool f64 = m_prec == hessian_precision::f64;
        validate(x, tokens, row_offset, inner, f64);
        if (f64)
            update<double>(m_h64, x, b, tokens, row_offset, inner);
        else
            update<float>(m_h32, x, b, tokens, row_offset, inner);
    }

    /// H ([in, in], f32 or f64 per precision(), full and symmetric); a view of the accumulator's
    /// storage, valid until the next add() or restore(). @throws precondition_error before any add.
    [[nodiscard]] tensor_ref hessian() const {
        NNPRUNE_PRECONDITION(m_n > 0, "hessian_accumulator::hessian: no samples yet (call add() first)");
        if (m_prec == hessian_precision::f64) return matrix_view<const double>(m_h64.data(), m_in, m_in);
        return matrix_view<const float>(m_h32.data(), m_in, m_in);
    }

    /**
     * @brief Restores a saved H ([in, in], f32 or f64, converted to precision()) and its sequence
     * count. A default-constructed accumulator takes h's size.
     * @throws shape_error on a shape other than [in, in]; value_error on another dtype, a
     *         non-finite or asymmetric H, or samples = 0. Nothing changes then.
     */
    void restore(const tensor_ref& h, std::uint64_t samples) {
        const std::size_t in = m_in == 0 && h.rank() == 2 && h.extent(0) == h.extent(1) ? h.extent(0) : m_in;
        NNPRUNE_CHECK(h.rank() == 2 && h.extent(0) == in && h.extent(1) == in, shape_error,
                      detail::str("hessian_accumulator::restore: H must be [", in, ", ", in, "], got ", h.shape()));
        NNPRUNE_CHECK(h.dtype() == dtype::f32 || h.dtype() == dtype::f64, value_error,
                      detail::str("hessian_accumulator::restore: H must be f32 or f64, got ", name_of(h.dtype())));
        NNPRUNE_CHECK(samples > 0, value_error, "hessian_accumulator::restore: samples must be positive");
        visit(h, [&](auto v) {
            for (std::size_t i = 0; i < in; ++i)
                for (std::size_t j = i; j < in; ++j) {
                    const double a = to_double(v(i, j, 0, 0)), c = to_double(v(j, i, 0, 0));
                    NNPRUNE_CHECK(
                        std::isfinite(a), value_error,
                        detail::str("hessian_accumulator::restore: H(", i, ", ", j, ") = ", a, " is not finite"));
                    NNPRUNE_CHECK(a == c, value_error,
                                  detail::str("hessian_accumulator::restore: H is not symmetric: H(", i, ", ", j,
                                              ") = ", a, ", H(", j, ", ", i, ") = ", c));
                }
        });
        m_in = in;
        if (m_prec == hessian_precision::f32) {
            m_h32.resize(in * in);
            visit(h, [&](auto v) {
                for (std::size_t i = 0; i < in; ++i)
                    for (std::size_t j = 0; j < in; ++j) m_h32[i * in + j] = to_float(v(i, j, 0, 0));
            });
        } else {
            m_h64.resize(in * in);
            visit(h, [&](auto v) {
                for (std::size_t i = 0; i < in; ++i)
                    for (std::size_t j = 0; j < in; ++j) m_h64[i * in + j] = to_double(v(i, j, 0, 0));
            });
        }
        m_n = samples;
    }

private:
    /// Tokens converted and multiplied in one chunk (bounds the X' scratch at chunk · in).
    static constexpr std::size_t chunk_tokens = 512;

    /// Calls f(begin, end) on contiguous parts of [0, n), on up to m_threads threads (parts of at
    /// least `grain` items).
    template <class F>
    void parallel(std::size_t n, std::size_t grain, F&& f) const {
        const unsigned parts = ::nnprune::detail::parts_for(n, std::min(m_threads, 64u), grain);
        ::nnprune::detail::parallel_for(n, parts, [&](std::size_t b, std::size_t e, unsigned) { f(b, e); });
    }

    /// Throws value_error naming the first bad element (row-major flat index) of x.
    template <class RowOffset>
    void validate(const tensor_ref& x, std::size_t tokens, const RowOffset& row_offset, std::ptrdiff_t inner,
                  bool f64) const {
        const std::size_t in = m_in;
        constexpr std::size_t none = static_cast<std::size_t>(-1);
        std::size_t first_bad = none;  // the smallest bad token (parts hold ascending ranges)
        std::atomic<std::size_t> bad_token{none};
        visit(x, [&](auto v) {
            const auto* p = v.data_handle();
            parallel(tokens, 64, [&](std::size_t t0, std::size_t t1) {
                for (std::size_t t = t0; t < t1; ++t) {
                    const auto* row = p + row_offset(t);
                    bool ok = true;
                    if (f64) {
                        for (std::size_t j = 0; j < in; ++j) {
                            const double d = to_double(row[static_cast<std::ptrdiff_t>(j) * inner]);
                            ok &= std::isfinite(d * d);
                        }
                    } else {
                        for (std::size_t j = 0; j < in; ++j) {
                            const float f = to_float(row[static_cast<std::ptrdiff_t>(j) * inner]);
                            ok &= std::isfinite(f * f);
                        }
                    }
                    if (ok) continue;
                    std::size_t cur = bad_token.load();
                    while (t < cur && !bad_token.compare_exchange_weak(cur, t)) {
                    }
                    return;
                }
            });
            first_bad = bad_token.load();
            if (first_bad == none) return;
            const auto* row = p + row_offset(first_bad);
            for (std::size_t j = 0; j < in; ++j) {
                const auto e = row[static_cast<std::ptrdiff_t>(j) * inner];
                const bool good =
                    f64 ? std::isfinite(to_double(e) * to_double(e)) : std::isfinite(to_float(e) * to_float(e));
                NNPRUNE_CHECK(good, value_error,
                              detail::str("hessian_accumulator::add: activations have NaN or Inf (or squares "
                                          "that overflow ",
                                          f64 ? "f64" : "f32", ") at flat index ", first_bad * in + j, " (value ",
                                          to_double(e), ")"));
            }
        });
    }

    template <class H, class RowOffset>
    void update(std::vector<H>& h, const tensor_ref& x, std::uint64_t b, std::size_t tokens,
                const RowOffset& row_offset, std::ptrdiff_t inner) {
        const std::size_t in = m_in;
        // H *= n / (n + B) (a Python float, applied in H's type); only the upper triangle is kept
        const auto ratio = static_cast<H>(static_cast<double>(m_n) / static_cast<double>(m_n + b));
        parallel(in, 64, [&](std::size_t i0, std::size_t i1) {
            for (std::size_t i = i0; i < i1; ++i)
                for (std::size_t j = i; j < in; ++j) h[i * in + j] *= ratio;
        });
        m_n += b;
        const auto scale = static_cast<H>(std::sqrt(2.0 / static_cast<double>(m_n)));
        std::vector<H>& xs = scratch<H>();
        const std::size_t chunk = std::min(chunk_tokens, tokens);
        if (xs.size() < chunk * in) xs.resize(chunk * in);
        for (std::size_t c0 = 0; c0 < tokens; c0 += chunk) {
            const std::size_t nt = std::min(chunk, tokens - c0);
            visit(x, [&](auto v) {
                const auto* p = v.data_handle();
                parallel(nt, 64, [&](std::size_t t0, std::size_t t1) {
                    for (std::size_t t = t0; t < t1; ++t) {
                        const auto* row = p + row_offset(c0 + t);
                        H* dst = xs.data() + t * in;
                        if constexpr (std::is_same_v<H, float>) {
                            if (inner == 1) {
                                for (std::size_t j = 0; j < in; ++j) dst[j] = scale * to_float(row[j]);
                                continue;
                            }
                            for (std::size_t j = 0; j < in; ++j)
                                dst[j] = scale * to_float(row[static_cast<std::ptrdiff_t>(j) * inner]);
                        } else {
                            for (std::size_t j = 0; j < in; ++j)
                                dst[j] = scale * to_double(row[static_cast<std::ptrdiff_t>(j) * inner]);
                        }
                    }
                });
            });
            const auto sin = static_cast<std::ptrdiff_t>(in);
            if constexpr (std::is_same_v<H, float>)
                simd::gemm(simd::gemm_op::add, in, in, nt, {xs.data(), 1, sin}, {xs.data(), sin, 1}, h.data(), in,
                           simd::gemm_part::upper, m_threads);
            else
                syrk_upper_f64(xs.data(), nt, in, h.data());
        }
        mirror_upper(h.data(), in);
    }

    /// h(i, j) += Σ_t x(t, i) x(t, j) for i <= j, tokens in ascending order; blocks of rows are
    /// dealt round-robin to the threads (each entry computed by one thread, in one order).
    void syrk_upper_f64(const double* x, std::size_t nt, std::size_t in, double* h) const {
        constexpr std::size_t rb = 16, cb = 512;
        const std::size_t blocks = (in + rb - 1) / rb;
        const unsigned parts = ::nnprune::detail::parts_for(blocks, m_threads, 4);
        ::nnprune::detail::parallel_for(parts, parts, [&](std::size_t pb, std::size_t pe, unsigned) {
            for (std::size_t part = pb; part < pe; ++part)
                for (std::size_t blk = part; blk < blocks; blk += parts) {
                    const std::size_t i0 = blk * rb, i1 = std::min(in, i0 + rb);
                    for (std::size_t j0 = i0; j0 < in; j0 += cb) {
                        const std::size_t j1 = std::min(in, j0 + cb);
                        for (std::size_t i = i0; i < i1; ++i) {
                            double* hi = h + i * in;
                            const std::size_t jb = std::max(i, j0);
                            std::size_t t = 0;
                            for (; t + 4 <= nt; t += 4) {
                                const double* x0 = x + t * in;
                                const double* x1 = x0 + in;
                                const double* x2 = x1 + in;
                                const double* x3 = x2 + in;
                                const double a0 = x0[i], a1 = x1[i], a2 = x2[i], a3 = x3[i];
                                for (std::size_t j = jb; j < j1; ++j) {
                                    double s = hi[j];
                                    s += a0 * x0[j];
                                    s += a1 * x1[j];
                                    s += a2 * x2[j];
                                    s += a3 * x3[j];
                                    hi[j] = s;
                                }
                            }
                            for (; t < nt; ++t) {
                                const double* xt = x + t * in;
                                const double a = xt[i];
                                for (std::size_t j = jb; j < j1; ++j) hi[j] += a * xt[j];
                            }
                        }
                    }
                }
        });
    }

    /// Copies the upper triangle onto the lower one, 32 x 32 blocks at a time (block rows dealt
    /// round-robin to the threads: the triangle's rows are uneven).
    template <class H>
    void mirror_upper(H* h, std::size_t in) const {
        constexpr std::size_t bs = 32;
        const std::size_t blocks = (in + bs - 1) / bs;
        const unsigned parts = ::nnprune::detail::parts_for(blocks, std::min(m_threads, 64u), 4);
        ::nnprune::detail::parallel_for(parts, parts, [&](std::size_t pb, std::size_t pe, unsigned) {
            for (std::size_t part = pb; part < pe; ++part)
                for (std::size_t i0 = part * bs; i0 < in; i0 += parts * bs)
                    for (std::size_t j0 = i0; j0 < in; j0 += bs)
                        for (std::size_t j = j0; j < std::min(j0 + bs, in); ++j)
                            for (std::size_t i = i0; i < std::min(i0 + bs, j); ++i) h[j * in + i] = h[i * in + j];
        });
    }

    template <class H>
    std::vector<H>& scratch() noexcept {
        if constexpr (std::is_same_v<H, float>)
            return m_x32;
        else
            return m_x64;
    }

    std::size_t m_in = 0;
    hessian_precision m_prec = hessian_precision::f32;
    unsigned m_threads = 1;
    std::uint64_t m_n = 0;
    std::vector<float> m_h32, m_x32;
    std::vector<double> m_h64, m_x64;
};

}  // namespace nnprune

#endif  // NNPRUNE_CALIBRATION_HESSIAN_ACCUMULATOR_HPP
