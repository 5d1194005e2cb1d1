#ifndef NNPRUNE_CALIBRATION_FLAP_ACCUMULATOR_HPP
#define NNPRUNE_CALIBRATION_FLAP_ACCUMULATOR_HPP

/// @file flap_accumulator.hpp
/// FLAP's per-input-channel statistics of the input of o_proj / down_proj (algorithms.md §8),
/// reproduced exactly, including the alias quirk. Per call with B sequences (n = sequences so far):
///   mu   <- mu * n/(n+B) + mean_tokens(x) / (n+B)
///   fluc <- 0 on the first call; later fluc * (n-1)/(n+B-1) + sum_tokens (x - mu_new)^2 / (n+B)
///   s    <- s * n/(n+B) + sum_tokens x^2 / (n+B)           (WIFN)
/// Upstream meant Welford's (x - mu_new)(x - mu_old), but mu_old aliases the updated tensor, so
/// both factors use mu_new; the first sequence's deviations are discarded. float32 state; the
/// token sums of one call are taken in double.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"

namespace nnprune {

class flap_accumulator {
public:
    flap_accumulator() = default;

    explicit flap_accumulator(std::size_t channels)
        : m_mu(channels, 0.0f), m_fluc(channels, 0.0f), m_s(channels, 0.0f) {}

    [[nodiscard]] std::size_t channels() const noexcept { return m_mu.size(); }

    [[nodiscard]] std::uint64_t samples() const noexcept { return m_n; }

    [[nodiscard]] std::span<const float> mean() const noexcept { return m_mu; }  ///< baseline_inp

    [[nodiscard]] std::span<const float> fluctuation() const noexcept { return m_fluc; }  ///< fluc_inp

    [[nodiscard]] std::span<const float> squares() const noexcept { return m_s; }  ///< WIFN scaler

    /**
     * @brief Adds one call: x is [T, C] (one sequence) or [B, T, C].
     * @throws shape_error (rank, channel count), value_error (NaN/Inf); nothing changes then.
     */
    void add(const tensor_ref& x) {
        const std::size_t c = m_mu.size();
        NNPRUNE_CHECK(x.rank() == 2 || x.rank() == 3, shape_error,
                      detail::str("flap_accumulator::add: batch must be [T, C] or [B, T, C], got ", x.shape()));
        NNPRUNE_CHECK(x.extent(x.rank() - 1) == c, shape_error,
                      detail::str("flap_accumulator::add: batch ", x.shape(), " has ", x.extent(x.rank() - 1),
                                  " channels, the accumulator has ", c));
        const std::uint64_t b = x.rank() == 3 ? x.extent(0) : 1;
        const std::size_t tokens = c ? x.size() / c : 0;
        if (b == 0 || tokens == 0) return;
        std::vector<float> v(x.size());
        std::size_t bad = x.size();
        visit(x, [&](auto tv) {
            for_each_indexed(tv, [&](std::size_t i, auto e) {
                v[i] = to_float(e);
                if (bad == x.size() && !is_finite(e)) bad = i;
            });
        });
        NNPRUNE_CHECK(bad == x.size(), value_error,
                      detail::str("flap_accumulator::add: activations have NaN or Inf at flat index ", bad));
        const double n = static_cast<double>(m_n), nb = n + static_cast<double>(b);
        const auto keep = static_cast<float>(n / nb);
        const auto nbf = static_cast<float>(nb);
        for (std::size_t j = 0; j < c; ++j) {
            double sum = 0.0, sq = 0.0;
            for (std::size_t t = 0; t < tokens; ++t) {
                const double e = v[t * c + j];
                sum += e;
                sq += e * e;
            }
            const auto mean_tok = static_cast<float>(sum / static_cast<double>(tokens));
            m_mu[j] = m_mu[j] * keep + mean_tok / nbf;
            m_s[j] = m_s[j] * keep + static_cast<float>(sq) / nbf;
        }
        if (m_n == 0) {
            std::fill(m_fluc.begin(), m_fluc.end(), 0.0f);
        } else {
            const auto fkeep = static_cast<float>((n - 1.0) / (nb - 1.0));
            for (std::size_t j = 0; j < c; ++j) {
                double dev = 0.0;
                for (std::size_t t = 0; t < tokens; ++t) {
                    const double d = static_cast<double>(v[t * c + j]) - static_cast<double>(m_mu[j]);
                    dev += d * d;  // (x - mu_new) * (x - mu_new): the alias quirk
                }
                m_fluc[j] = m_fluc[j] * fkeep + static_cast<float>(dev) / nbf;
            }
        }
        m_n += b;
    }

private:
    std::vector<float> m_mu, m_fluc, m_s;
    std::uint64_t m_n = 0;
};

}  // namespace nnprune

#endif  // NNPRUNE_CALIBRATION_FLAP_ACCUMULATOR_HPP
