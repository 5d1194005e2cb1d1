#ifndef NNPRUNE_CALIBRATION_GRADIENT_ACCUMULATOR_HPP
#define NNPRUNE_CALIBRATION_GRADIENT_ACCUMULATOR_HPP

/// @file gradient_accumulator.hpp
/// Gradient statistics for first-order scorers (algorithms.md §4):
///  - gradient_accumulator: the plain sum of per-batch gradients (what .grad holds after several
///    backward passes), for taylor_scorer;
///  - gblm_gradient_accumulator: GBLM-Pruner's l2 norm over samples, g' = g * scale (scale = 100),
///    l2 += g'^2 in float32, G = sqrt(l2) at the end (optionally rounded to fp16 as upstream saves it);
///    optionally also upstream's l1 file, l1 += |g'| accumulated in fp16 (see track_l1).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"

namespace nnprune {

namespace detail {
/// Reads a gradient of the expected shape as float32 after validating every element (nothing is
/// changed when it throws).
inline std::vector<float> read_gradient(const tensor_ref& g, const shape& expect, const char* fn) {
    NNPRUNE_CHECK(g.shape() == expect, shape_error,
                  detail::str(fn, ": gradient has shape ", g.shape(), ", accumulator has ", expect));
    std::vector<float> v(g.size());
    std::size_t bad = g.size();
    visit(g, [&](auto tv) {
        for_each_indexed(tv, [&](std::size_t i, auto x) {
            v[i] = to_float(x);
            if (bad == g.size() && !is_finite(x)) bad = i;
        });
    });
    NNPRUNE_CHECK(bad == g.size(), value_error, detail::str(fn, ": gradient has NaN or Inf at flat index ", bad));
    return v;
}

template <class T>
inline tensor_ref ref_of(const std::vector<T>& v, const shape& s) {
    const T* p = v.data();
    switch (s.rank()) {
        case 1:
            return tensor_view<const T, 1>(p, s[0]);
        case 2:
            return tensor_view<const T, 2>(p, s[0], s[1]);
        case 3:
            return tensor_view<const T, 3>(p, s[0], s[1], s[2]);
        default:
            return tensor_view<const T, 4>(p, s[0], s[1], s[2], s[3]);
    }
}
}  // namespace detail

/// Sum of gradients over batches, float32, with the weights' shape.
class gradient_accumulator {
public:
    gradient_accumulator() = default;

    explicit gradient_accumulator(const shape& s) : m_sum(s.numel(), 0.0f), m_shape(s) {}

    /// Adds one gradient. @throws shape_error, value_error (NaN/Inf); nothing changes then.
    void add(const tensor_ref& g) {
        const auto v = detail::read_gradient(g, m_shape, "gradient_accumulator::add");
        for (std::size_t i = 0; i < v.size(); ++i) m_sum[i] += v[i];
        ++m_n;
    }

    [[nodiscard]] std::uint64_t samples() const noexcept { return m_n; }

    [[nodiscard]] const std::vector<float>& values() const noexcept { return m_sum; }

    /// The accumulated gradient, for layer::gradient. @throws precondition_error with zero samples.
    [[nodiscard]] tensor_ref gradient() const {
        NNPRUNE_PRECONDITION(m_n > 0, "gradient_accumulator::gradient: statistics from zero samples");
        return detail::ref_of(m_sum, m_shape);
    }

private:
    std::vector<float> m_sum;
    shape m_shape{};
    std::uint64_t m_n = 0;
};

/**
 * @brief GBLM-Pruner gradient l2: l2 += (g * scale)^2 per sample (float32), G = sqrt(l2).
 *
 * With track_l1, also upstream's l1 statistic (`gradients_l1`, algorithms.md §4c): an fp16 tensor
 * updated in place per sample, l1 += |g * scale|. As torch computes an fp16 += fp32 in place, each
 * step adds in float32 and rounds the sum to fp16 (round to nearest even): l1 = fp16(float(l1) +
 * |g'|). So l1 stops growing once |g'| is below half an fp16 ulp of l1 (2048 + 1 stays 2048) and
 * overflows to +Inf past 65504 (upstream's file holds the same Inf); it is not a float32 sum.
 */
class gblm_gradient_accumulator {
public:
    gblm_gradient_accumulator() = default;

    explicit gblm_gradient_accumulator(const shape& s, float scale = 100.0f, bool round_to_fp16 = true,
                                       bool track_l1 = false)
        : m_l2(s.numel(), 0.0f),
          m_l1(track_l1 ? s.numel() : 0),
          m_shape(s),
          m_scale(scale),
          m_fp16(round_to_fp16),
          m_track_l1(track_l1) {}

    /// Adds one sample's gradient. @throws shape_error, value_error; nothing changes then.
    void add(const tensor_ref& g) {
        const auto v = detail::read_gradient(g, m_shape, "gblm_gradient_accumulator::add");
        for (std::size_t i = 0; i < v.size(); ++i) {
            const float gs = v[i] * m_scale;
            m_l2[i] += gs * gs;
        }
        if (m_track_l1)
            for (std::size_t i = 0; i < v.size(); ++i) {
                const float sum = static_cast<float>(m_l1[i]) + std::fabs(v[i] * m_scale);  // float32 add
                m_l1[i] = float16(sum);                                                     // then RNE to fp16
            }
        ++m_n;
        m_final.clear();
    }

    [[nodiscard]] std::uint64_t samples() const noexcept { return m_n; }

    /// The running sum of squares (before the square root).
    [[nodiscard]] const std::vector<float>& sum_squares() const noexcept { return m_l2; }

    /// Whether the fp16 l1 sum is kept (the constructor's track_l1).
    [[nodiscard]] bool tracks_l1() const noexcept { return m_track_l1; }

    /// The fp16 running sum of |g * scale| (empty unless track_l1).
    [[nodiscard]] const std::vector<float16>& sum_abs() const noexcept { return m_l1; }

    /// The l1 statistic as an fp16 tensor with the weights' shape (upstream's l1 file), e.g. for
    /// layer::gradient. @throws precondition_error without track_l1 or with zero samples.
    [[nodiscard]] tensor_ref gradient_l1() const {
        NNPRUNE_PRECONDITION(m_track_l1, "gblm_gradient_accumulator::gradient_l1: constructed without track_l1");
        NNPRUNE_PRECONDITION(m_n > 0, "gblm_gradient_accumulator::gradient_l1: statistics from zero samples");
        return detail::ref_of(m_l1, m_shape);
    }

    /// G = sqrt(l2) (rounded to fp16 when asked, as upstream stores it), for layer::gradient.
    /// @throws precondition_error with zero samples.
    [[nodiscard]] tensor_ref gradient() {
        NNPRUNE_PRECONDITION(m_n > 0, "gblm_gradient_accumulator::gradient: statistics from zero samples");
        if (m_final.size() != m_l2.size()) {
            m_final.resize(m_l2.size());
            for (std::size_t i = 0; i < m_l2.size(); ++i) {
                const float r = std::sqrt(m_l2[i]);
                m_final[i] = m_fp16 ? static_cast<float>(float16(r)) : r;
            }
        }
        return detail::ref_of(m_final, m_shape);
    }

private:
    std::vector<float> m_l2, m_final;
    std::vector<float16> m_l1;
    shape m_shape{};
    float m_scale = 100.0f;
    bool m_fp16 = true;
    bool m_track_l1 = false;
    std::uint64_t m_n = 0;
};

}  // namespace nnprune

#endif  // NNPRUNE_CALIBRATION_GRADIENT_ACCUMULATOR_HPP
