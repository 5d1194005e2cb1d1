#ifndef NNPRUNE_PRUNE_REPORT_HPP
#define NNPRUNE_PRUNE_REPORT_HPP

/// @file report.hpp
/// What a prune call returns: one mask per layer (true = kept) and a report per layer.

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../masks/mask.hpp"

namespace nnprune {

struct layer_report {
    std::string name;
    std::size_t elements = 0;
    std::size_t kept = 0;
    double sparsity = 0.0;  ///< pruned / elements (previously pruned included)
    double target = 0.0;    ///< the sparsity this layer was asked for (NaN for N:M / global)
    /// The largest score pruned in this call (over the layer's groups; NaN when none was).
    double kth_score = std::numeric_limits<double>::quiet_NaN();
    bool excluded = false;  ///< left dense by a layer_filter pattern
};

struct prune_result {
    std::vector<mask> masks;           ///< in layer order, each shaped like its weights
    std::vector<layer_report> layers;  ///< in layer order

    [[nodiscard]] std::size_t elements() const noexcept {
        std::size_t n = 0;
        for (const auto& l : layers) n += l.elements;
        return n;
    }

    [[nodiscard]] std::size_t kept() const noexcept {
        std::size_t n = 0;
        for (const auto& l : layers) n += l.kept;
        return n;
    }

    /// Pruned fraction over all layers.
    [[nodiscard]] double sparsity() const noexcept {
        const auto n = elements();
        return n ? 1.0 - static_cast<double>(kept()) / static_cast<double>(n) : 0.0;
    }
};

namespace detail {
/// The larger of two reported k-th scores, NaN (nothing pruned) counting as absent.
inline double max_kth(double a, double b) { return std::isnan(a) || (!std::isnan(b) && b > a) ? b : a; }

inline double max_kth(const std::vector<double>& kth) {
    double m = std::numeric_limits<double>::quiet_NaN();
    for (double v : kth) m = max_kth(m, v);
    return m;
}
}  // namespace detail

}  // namespace nnprune

#endif  // NNPRUNE_PRUNE_REPORT_HPP
