#ifndef NNPRUNE_CALIBRATION_WANDA_ACCUMULATOR_HPP
#define NNPRUNE_CALIBRATION_WANDA_ACCUMULATOR_HPP

/// @file wanda_accumulator.hpp
/// Wanda's per-input-column activation statistic `scaler_row` (algorithms.md §2), accumulated
/// incrementally from calibration batches [T, in] (one sequence) or [B, T, in] (B sequences), of
/// any element type. Per call, exactly as the reference (float32):
///   scaler *= n / (n + B);  n += B;  scaler += ||X_j||^2 / n
/// so scaler_j = (1 / N_sequences) * sum over all tokens of x_j^2.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"
#include "../simd/add_squares.hpp"

namespace nnprune {

/**
 * @brief Wanda `scaler_row` accumulator for one Linear layer with `in` input features.
 * @code
 * nnprune::wanda_accumulator acc(4096);
 * for (auto& batch : calibration) acc.add(nnprune::matrix_view<const float>(batch.data(), 2048, 4096));
 * layer.input_stat = acc.stat();   // the vector the wanda scorer reads
 * @endcode
 */
class wanda_accumulator {
public:
    wanda_accumulator() = default;

    explicit wanda_accumulator(std::size_t in) : m_scaler(in, 0.0f), m_col(in), m_row(in) {}

    [[nodiscard]] std::size_t features() const noexcept { return m_scaler.size(); }

    /// Sequences seen so far (the reference's nsamples).
    [[nodiscard]] std::uint64_t samples() const noexcept { return m_n; }

    /// scaler_row (length in); all zero before the first batch.
    [[nodiscard]] std::span<const float> values() const noexcept { return m_scaler; }

    /// scaler_row as a rank-1 tensor_ref, for layer::input_stat.
    [[nodiscard]] tensor_ref stat() const {
        NNPRUNE_PRECONDITION(m_n > 0, "wanda_accumulator::stat: statistics from zero samples (call add() first)");
        return tensor_view<const float, 1>(m_scaler.data(), m_scaler.size());
    }

    /**
     * @brief Adds one call: x is [T, in] (one sequence, B = 1) or [B, T, in] (B sequences).
     * @throws shape_error when the last extent is not `in` or the rank is not 2 or 3;
     *         value_error on NaN/Inf activations (nothing is updated then).
     */
    void add(const tensor_ref& x) {
        const std::size_t in = m_scaler.size();
        NNPRUNE_CHECK(x.rank() == 2 || x.rank() == 3, shape_error,
                      detail::str("wanda_accumulator::add: batch must be [T, in] or [B, T, in], got ", x.shape()));
        NNPRUNE_CHECK(x.extent(x.rank() - 1) == in, shape_error,
                      detail::str("wanda_accumulator::add: batch ", x.shape(), " has ", x.extent(x.rank() - 1),
                                  " features, the accumulator has ", in));
        const std::uint64_t b = x.rank() == 3 ? x.extent(0) : 1;
        const std::size_t tokens = x.size() / (in ? in : 1);
        if (b == 0) return;
        // column sums of squares: float32 partials over blocks of 256 tokens, summed in double
        std::fill(m_col.begin(), m_col.end(), 0.0);
        std::vector<float>& part = m_part;
        part.assign(in, 0.0f);
        bool finite = true;
        std::size_t bad = 0;
        visit(x, [&](auto v) {
            using T = typename decltype(v)::value_type;
            // padded rank-4 view: token t is the row of flat indices [t * in, (t + 1) * in)
            const bool contig = v.is_contiguous();
            auto row_of = [&](std::size_t t) -> const float* {
                if constexpr (std::is_same_v<T, float>) {
                    if (contig) return v.data_handle() + t * in;
                }
                for (std::size_t j = 0; j < in; ++j) m_row[j] = to_float(v.flat(t * in + j));
                return m_row.data();
            };
            std::size_t block_start = 0;
            for (std::size_t t = 0; t < tokens && finite; ++t) {
                simd::add_squares(row_of(t), part.data(), in);
                if ((t + 1) % 256 == 0 || t + 1 == tokens) {
                    // a NaN or Inf activation makes its column's partial sum non-finite: only
                    // then look for the first offending element of this block
                    for (std::size_t j = 0; j < in && finite; ++j)
                        if (!std::isfinite(part[j])) finite = false;
                    if (!finite) {
                        bad = block_start * in;
                        for (std::size_t u = block_start; u <= t; ++u) {
                            const float* r = row_of(u);
                            std::size_t j = 0;
                            while (j < in && std::isfinite(r[j]) && std::isfinite(r[j] * r[j])) ++j;
                            if (j < in) {
                                bad = u * in + j;
                                break;
                            }
                        }
                        break;
                    }
                    for (std::size_t j = 0; j < in; ++j) m_col[j] += part[j];
                    std::fill(part.begin(), part.end(), 0.0f);
                    block_start = t + 1;
                }
            }
        });
        NNPRUNE_CHECK(
            finite, value_error,
            detail::str(
                "wanda_accumulator::add: activations have NaN or Inf (or squares that overflow float32) at flat index ",
                bad));
        update(m_col, b);
    }

    /// Adds one call from precomputed per-column sums of squares over the call's tokens (e.g. on
    /// a GPU). @throws shape_error / precondition_error on a wrong length or B = 0.
    void add_sums(std::span<const double> sum_squares, std::uint64_t sequences) {
        NNPRUNE_CHECK(sum_squares.size() == m_scaler.size(), shape_error,
                      detail::str("wanda_accumulator::add_sums: ", sum_squares.size(), " sums for ", m_scaler.size(),
                                  " features"));
        NNPRUNE_PRECONDITION(sequences > 0, "wanda_accumulator::add_sums: a call must hold at least one sequence");
        update(sum_squares, sequences);
    }

    /// Restores a saved state (values + sample count).
    void restore(std::span<const float> values, std::uint64_t samples) {
        m_scaler.assign(values.begin(), values.end());
        m_col.resize(m_scaler.size());
        m_row.resize(m_scaler.size());
        m_n = samples;
    }

private:
    void update(std::span<const double> sumsq, std::uint64_t b) {
        // the reference: scaler *= n/(n+B) (Python double, applied as float32); n += B;
        // scaler += torch.norm(x_j)**2 / n (float32 norm, squared in float32, divided by float32(n))
        const auto ratio = static_cast<float>(static_cast<double>(m_n) / static_cast<double>(m_n + b));
        m_n += b;
        const auto nf = static_cast<float>(m_n);
        for (std::size_t j = 0; j < m_scaler.size(); ++j) {
            const float norm = std::sqrt(static_cast<float>(sumsq[j]));
            m_scaler[j] = m_scaler[j] * ratio + (norm * norm) / nf;
        }
    }

    std::vector<float> m_scaler;
    std::vector<double> m_col;
    std::vector<float> m_row, m_part;
    std::uint64_t m_n = 0;
};

}  // namespace nnprune

#endif  // NNPRUNE_CALIBRATION_WANDA_ACCUMULATOR_HPP
