#ifndef NNPRUNE_SCORERS_FLAP_HPP
#define NNPRUNE_SCORERS_FLAP_HPP

/// @file flap.hpp
/// FLAP's fluctuation metric (algorithms.md §8) per input channel j of W_out [out, in]
/// (o_proj or down_proj), from a flap_accumulator of that layer's input:
///   IFV  = fluc_j;   WIFV (default) = fluc_j * sum_i W_ij^2;   WIFN = mean_i |W_ij| * sqrt(s_j)
/// squared for attention (o_proj), standardised per layer ((x - mean) / unbiased std), averaged per
/// head (head_dim channels) for attention, and the bias compensation b = W_out[:, P] . fp16(mu[P])
/// over the pruned channels P, which the user adds as the layer's new bias.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "../calibration/flap_accumulator.hpp"
#include "../config.hpp"
#include "../masks/mask.hpp"
#include "scorer.hpp"

namespace nnprune {

enum class flap_metric_kind : std::uint8_t { wifv, ifv, wifn };

namespace detail {
inline void check_flap(const tensor_ref& w_out, const flap_accumulator& acc, const char* fn) {
    NNPRUNE_CHECK(acc.samples() > 0, precondition_error, detail::str(fn, ": statistics from zero samples"));
    NNPRUNE_CHECK(w_out.shape().cols() == acc.channels(), shape_error,
                  detail::str(fn, ": W_out ", w_out.shape(), " has ", w_out.shape().cols(),
                              " input channels, the accumulator has ", acc.channels()));
}
}  // namespace detail

/**
 * @brief The FLAP metric of every input channel of W_out. `squared` for attention (o_proj).
 * @throws shape_error, precondition_error (zero samples).
 */
[[nodiscard]] inline std::vector<float> flap_metric(const tensor_ref& w_out, const flap_accumulator& acc,
                                                    flap_metric_kind kind = flap_metric_kind::wifv,
                                                    bool squared = false) {
    detail::check_flap(w_out, acc, "flap_metric");
    const std::size_t rows = w_out.shape().rows(), cols = w_out.shape().cols();
    std::vector<double> col_sq(cols, 0.0), col_abs(cols, 0.0);
    std::vector<float> row(cols);
    detail::visit_matrix(w_out, [&](auto w) {
        for (std::size_t i = 0; i < rows; ++i) {
            detail::row_to_float(w, i, row.data());
            for (std::size_t j = 0; j < cols; ++j) {
                col_sq[j] += static_cast<double>(row[j]) * row[j];
                col_abs[j] += std::fabs(row[j]);
            }
        }
    });
    std::vector<float> m(cols);
    for (std::size_t j = 0; j < cols; ++j) {
        const float fl = acc.fluctuation()[j];
        float v = 0;
        switch (kind) {
            case flap_metric_kind::wifv:
                v = fl * static_cast<float>(col_sq[j]);
                break;
            case flap_metric_kind::ifv:
                v = fl;
                break;
            case flap_metric_kind::wifn:
                v = static_cast<float>(col_abs[j] / static_cast<double>(rows)) * std::sqrt(acc.squares()[j]);
                break;
        }
        m[j] = squared ? v * v : v;
    }
    return m;
}

/// (x - mean) / std with the unbiased std (N - 1), in place. NaN/Inf inputs propagate (upstream
/// then prunes the whole layer); fewer than 2 values give NaN.
inline void flap_standardize(std::span<float> x) {
    const std::size_t n = x.size();
    double mean = 0.0;
    for (float v : x) mean += v;
    mean /= static_cast<double>(n ? n : 1);
    double var = 0.0;
    for (float v : x) var += (v - mean) * (v - mean);
    const double sd = n > 1 ? std::sqrt(var / static_cast<double>(n - 1)) : std::nan("");
    for (float& v : x) v = static_cast<float>((v - mean) / sd);
}

/// Head scores: the mean of each head's head_dim standardised channel scores (upstream hard-codes 128).
/// @throws precondition_error when the channel count is not a multiple of head_dim.
[[nodiscard]] inline std::vector<float> flap_head_scores(std::span<const float> channel_scores,
                                                         std::size_t head_dim = 128) {
    NNPRUNE_PRECONDITION(
        head_dim > 0 && channel_scores.size() % head_dim == 0,
        detail::str("flap_head_scores: ", channel_scores.size(), " channels is not a multiple of head_dim ", head_dim));
    std::vector<float> h(channel_scores.size() / head_dim);
    for (std::size_t k = 0; k < h.size(); ++k) {
        double s = 0.0;
        for (std::size_t j = 0; j < head_dim; ++j) s += channel_scores[k * head_dim + j];
        h[k] = static_cast<float>(s / static_cast<double>(head_dim));
    }
    return h;
}

/**
 * @brief Bias compensation for the pruned input channels of W_out: b_i = sum_{j pruned} W_ij *
 * fp16(mu_j) (float32 result, length = rows). `kept_channels` has one bit per input channel
 * (true = kept); upstream replaces the layer's bias with b.
 * @throws shape_error, precondition_error (zero samples).
 */
[[nodiscard]] inline std::vector<float> flap_bias(const tensor_ref& w_out, const flap_accumulator& acc,
                                                  const_mask_view kept_channels, bool round_mean_to_fp16 = true) {
    detail::check_flap(w_out, acc, "flap_bias");
    const std::size_t rows = w_out.shape().rows(), cols = w_out.shape().cols();
    NNPRUNE_CHECK(kept_channels.size() == cols, shape_error,
                  detail::str("flap_bias: channel mask has ", kept_channels.size(), " elements, W_out has ", cols,
                              " input channels"));
    std::vector<float> mu(cols);
    for (std::size_t j = 0; j < cols; ++j)
        mu[j] = round_mean_to_fp16 ? static_cast<float>(float16(acc.mean()[j])) : acc.mean()[j];
    std::vector<float> b(rows, 0.0f), row(cols);
    detail::visit_matrix(w_out, [&](auto w) {
        for (std::size_t i = 0; i < rows; ++i) {
            detail::row_to_float(w, i, row.data());
            double s = 0.0;
            for (std::size_t j = 0; j < cols; ++j)
                if (!kept_channels.test(j)) s += static_cast<double>(row[j]) * mu[j];
            b[i] = static_cast<float>(s);
        }
    });
    return b;
}

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_FLAP_HPP
