#ifndef NNPRUNE_CALIBRATION_DSNOT_ACCUMULATOR_HPP
#define NNPRUNE_CALIBRATION_DSNOT_ACCUMULATOR_HPP

/// @file dsnot_accumulator.hpp
/// DSnoT's per-input-column statistics (dsnot.md §1.2), accumulated incrementally from calibration
/// calls [T, in] (one sequence) or [B, T, in] (B sequences), of any element type and strides. The
/// state is float32, as upstream; per call, with n = sequences and ntok = tokens seen so far and
/// t_c = B·T tokens in the call:
///   v_c = the call's biased (population) variance of x_j over its t_c tokens
///   var = v_c if ntok == 0, else (var·ntok + v_c·t_c) / (ntok + t_c);   ntok += t_c
///   scaler_row *= n/(n+B);  sum_row *= n/(n+B);  n += B
///   scaler_row += ||x_j||² / n;  sum_row += Σ_tokens x_j / n
/// so scaler_row_j = Σ x_j² / N_seq (Wanda's, the update of wanda_accumulator), sum_row_j =
/// Σ x_j / N_seq (a per-sequence SUM, T·mean), and var_j is the token-weighted mean of the per-call
/// biased variances (not the pooled variance: the spread of the per-call means is left out).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"

namespace nnprune {

/// DSnoT's three statistics of one Linear's input, each of length `in` (any element type; the
/// accumulator's are float32). dsnot_refine reads them.
struct dsnot_stats {
    tensor_ref scaler_row;  ///< Σ_tokens x_j² / N_seq (Wanda's statistic)
    tensor_ref sum_row;     ///< Σ_tokens x_j / N_seq
    tensor_ref var;         ///< token-weighted mean of the per-call biased variances of x_j
};

/**
 * @brief DSnoT statistics accumulator for one Linear layer with `in` input features.
 * @code
 * nnprune::dsnot_accumulator acc(4096);
 * for (auto& seq : calibration) acc.add(nnprune::matrix_view<const float>(seq.data(), 2048, 4096));
 * auto report = nnprune::dsnot_refine(weights, acc.stats(), mask);
 * @endcode
 * The per-call variance is computed with two passes over the call in double (the column means
 * first, then the mean squared deviation from them): stable whatever the activations' offset,
 * unlike E[x²] − E[x]² in one pass.
 */
class dsnot_accumulator {
public:
    dsnot_accumulator() = default;

    explicit dsnot_accumulator(std::size_t in) : m_scaler(in, 0.0f), m_sum(in, 0.0f), m_var(in, 0.0f) {}

    [[nodiscard]] std::size_t features() const noexcept { return m_scaler.size(); }

    /// Sequences seen so far (upstream's nsamples).
    [[nodiscard]] std::uint64_t samples() const noexcept { return m_n; }

    /// Tokens seen so far (upstream's ntokens).
    [[nodiscard]] std::uint64_t tokens() const noexcept { return m_ntok; }

    /// Σ x_j² / N_seq (length in); all zero before the first call.
    [[nodiscard]] std::span<const float> scaler_row() const noexcept { return m_scaler; }

    /// Σ x_j / N_seq (length in); all zero before the first call.
    [[nodiscard]] std::span<const float> sum_row() const noexcept { return m_sum; }

    /// The token-weighted mean of the per-call biased variances (length in).
    [[nodiscard]] std::span<const float> var() const noexcept { return m_var; }

    /// The three statistics as rank-1 float32 refs (views of this accumulator's storage).
    /// @throws precondition_error before the first add().
    [[nodiscard]] dsnot_stats stats() const {
        NNPRUNE_PRECONDITION(m_n > 0, "dsnot_accumulator::stats: statistics from zero samples (call add() first)");
        return {vector_view<const float>(m_scaler.data(), m_scaler.size()),
                vector_view<const float>(m_sum.data(), m_sum.size()),
                vector_view<const float>(m_var.data(), m_var.size())};
    }

    /**
     * @brief Adds one call: x is [T, in] (one sequence, B = 1) or [B, T, in] (B sequences); any
     * element type and strides. A call with B = 0 changes nothing.
     * @throws shape_error when the rank is not 2 or 3, the last extent is not `in`, or B > 0 and
     *         T = 0; value_error on NaN/Inf activations, or a statistic that overflows float32.
     *         Nothing is updated then.
     */
    void add(const tensor_ref& x) {
        const std::size_t in = m_scaler.size();
        NNPRUNE_CHECK(x.rank() == 2 || x.rank() == 3, shape_error,
                      detail::str("dsnot_accumulator::add: batch must be [T, in] or [B, T, in], got ", x.shape()));
        NNPRUNE_CHECK(x.extent(x.rank() - 1) == in, shape_error,
                      detail::str("dsnot_accumulator::add: batch ", x.shape(), " has ", x.extent(x.rank() - 1),
                                  " features, the accumulator has ", in));
        const std::uint64_t b = x.rank() == 3 ? x.extent(0) : 1;
        if (b == 0) return;
        const std::size_t seq_len = x.extent(x.rank() - 2);
        NNPRUNE_CHECK(seq_len > 0, shape_error,
                      detail::str("dsnot_accumulator::add: batch ", x.shape(), " has no tokens (T = 0)"));
        const std::size_t tokens = static_cast<std::size_t>(b) * seq_len;
        m_s1.assign(in, 0.0);
        m_s2.assign(in, 0.0);
        m_m2.assign(in, 0.0);
        m_row.resize(in);
        visit(x, [&](auto v) { moments(v, x.rank(), seq_len, tokens); });
        update(b, tokens);
    }

    /**
     * @brief Restores a saved state. @throws shape_error unless the three vectors have the same
     * length (which becomes features()).
     */
    void restore(std::span<const float> scaler_row, std::span<const float> sum_row, std::span<const float> var,
                 std::uint64_t samples, std::uint64_t tokens) {
        NNPRUNE_CHECK(scaler_row.size() == sum_row.size() && sum_row.size() == var.size(), shape_error,
                      detail::str("dsnot_accumulator::restore: scaler_row, sum_row and var have lengths ",
                                  scaler_row.size(), ", ", sum_row.size(), " and ", var.size()));
        m_scaler.assign(scaler_row.begin(), scaler_row.end());
        m_sum.assign(sum_row.begin(), sum_row.end());
        m_var.assign(var.begin(), var.end());
        m_n = samples;
        m_ntok = tokens;
    }

private:
    // Column sums, sums of squares and (second pass) squared deviations from the call's means, in
    // double. Token u is row u of the [tokens, in] interpretation (b = u / T, t = u % T for rank 3).
    template <class V>
    void moments(const V& v, std::size_t rank, std::size_t seq_len, std::size_t tokens) {
        using T = typename V::value_type;
        const std::size_t in = m_scaler.size();
        const auto row_of = [&](std::size_t u) -> const double* {
            const T* p = v.data_handle();
            std::ptrdiff_t off = 0, step = 0;
            if (rank == 3) {
                off = static_cast<std::ptrdiff_t>(u / seq_len) * v.stride(0) +
                      static_cast<std::ptrdiff_t>(u % seq_len) * v.stride(1);
                step = v.stride(2);
            } else {
                off = static_cast<std::ptrdiff_t>(u) * v.stride(0);
                step = v.stride(1);
            }
            for (std::size_t j = 0; j < in; ++j) m_row[j] = to_double(p[off + static_cast<std::ptrdiff_t>(j) * step]);
            return m_row.data();
        };
        for (std::size_t u = 0; u < tokens; ++u) {
            const double* r = row_of(u);
            for (std::size_t j = 0; j < in; ++j) {
                m_s1[j] += r[j];
                m_s2[j] += r[j] * r[j];
            }
        }
        // a NaN or Inf activation (or a square that overflows double) makes its column's sums
        // non-finite: only then look for the first offending element
        for (std::size_t j = 0; j < in; ++j) {
            if (std::isfinite(m_s1[j]) && std::isfinite(m_s2[j])) continue;
            std::size_t bad = 0;
            for (std::size_t u = 0; u < tokens; ++u) {
                const double* r = row_of(u);
                std::size_t k = 0;
                while (k < in && std::isfinite(r[k]) && std::isfinite(r[k] * r[k])) ++k;
                if (k < in) {
                    bad = u * in + k;
                    break;
                }
            }
            NNPRUNE_THROW(value_error,
                          detail::str("dsnot_accumulator::add: activations have NaN or Inf (or squares that overflow) "
                                      "at flat index ",
                                      bad));
        }
        const double nt = static_cast<double>(tokens);
        m_mean.resize(in);
        for (std::size_t j = 0; j < in; ++j) m_mean[j] = m_s1[j] / nt;
        for (std::size_t u = 0; u < tokens; ++u) {
            const double* r = row_of(u);
            for (std::size_t j = 0; j < in; ++j) {
                const double dev = r[j] - m_mean[j];
                m_m2[j] += dev * dev;
            }
        }
    }

    // upstream's float32 update, computed into scratch, checked, then committed
    void update(std::uint64_t b, std::size_t tokens) {
        const std::size_t in = m_scaler.size();
        const auto ratio = static_cast<float>(static_cast<double>(m_n) / static_cast<double>(m_n + b));
        const auto nf = static_cast<float>(m_n + b);
        const auto tc = static_cast<float>(tokens);
        const auto old_tok = static_cast<float>(m_ntok), new_tok = static_cast<float>(m_ntok + tokens);
        m_next.resize(3 * in);
        float* sc = m_next.data();
        float* su = sc + in;
        float* va = su + in;
        for (std::size_t j = 0; j < in; ++j) {
            const float norm = std::sqrt(static_cast<float>(m_s2[j]));  // torch.norm(p=2) ** 2, float32
            sc[j] = m_scaler[j] * ratio + (norm * norm) / nf;
            su[j] = m_sum[j] * ratio + static_cast<float>(m_s1[j]) / nf;
            const auto vc = static_cast<float>(m_m2[j] / static_cast<double>(tokens));
            va[j] = m_ntok == 0 ? vc : (m_var[j] * old_tok + vc * tc) / new_tok;
        }
        for (std::size_t j = 0; j < 3 * in; ++j)
            NNPRUNE_CHECK(std::isfinite(m_next[j]), value_error,
                          detail::str("dsnot_accumulator::add: ",
                                      j < in       ? "scaler_row"
                                      : j < 2 * in ? "sum_row"
                                                   : "var",
                                      " of feature ", j % in, " overflows float32"));
        std::copy(sc, sc + in, m_scaler.begin());
        std::copy(su, su + in, m_sum.begin());
        std::copy(va, va + in, m_var.begin());
        m_n += b;
        m_ntok += tokens;
    }

    std::vector<float> m_scaler, m_sum, m_var, m_next;
    std::vector<double> m_s1, m_s2, m_mean, m_m2, m_row;
    std::uint64_t m_n = 0, m_ntok = 0;
};

}  // namespace nnprune

#endif  // NNPRUNE_CALIBRATION_DSNOT_ACCUMULATOR_HPP
