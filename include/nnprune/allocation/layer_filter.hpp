#ifndef NNPRUNE_ALLOCATION_LAYER_FILTER_HPP
#define NNPRUNE_ALLOCATION_LAYER_FILTER_HPP

/// @file layer_filter.hpp
/// Explicit per-layer choices by name: layers excluded from pruning and per-layer sparsity
/// overrides, each matched by a std::regex against the whole layer name (ECMAScript grammar,
/// regex_match: "model\\.layers\\.0\\..*" or ".*lm_head"). The first matching override wins.

#include <optional>
#include <regex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"

namespace nnprune {

struct layer_filter {
    std::vector<std::string> exclude;                       ///< patterns of layers left dense
    std::vector<std::pair<std::string, double>> overrides;  ///< pattern -> that layer's sparsity

    [[nodiscard]] bool empty() const noexcept { return exclude.empty() && overrides.empty(); }
};

/// What the filter says about one layer.
struct layer_choice {
    bool excluded = false;
    std::optional<double> sparsity;  ///< set when an override matched
};

namespace detail {
inline std::regex compile_pattern(const std::string& p, const char* fn) {
    try {
        return std::regex(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        NNPRUNE_THROW(precondition_error, detail::str(fn, ": invalid layer pattern '", p, "': ", e.what()));
    }
    return {};
}
}  // namespace detail

/**
 * @brief The filter's choice for every name, in order.
 * @throws precondition_error on an invalid regex or an override sparsity outside [0, 1].
 */
[[nodiscard]] inline std::vector<layer_choice> resolve(const layer_filter& f, std::span<const std::string> names) {
    constexpr const char* fn = "layer_filter";
    std::vector<std::regex> ex, ov;
    for (const auto& p : f.exclude) ex.push_back(detail::compile_pattern(p, fn));
    for (const auto& [p, s] : f.overrides) {
        NNPRUNE_PRECONDITION(s >= 0.0 && s <= 1.0,
                             detail::str(fn, ": override '", p, "' has sparsity ", s, ", must be in [0, 1]"));
        ov.push_back(detail::compile_pattern(p, fn));
    }
    std::vector<layer_choice> out(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        for (const auto& r : ex)
            if (std::regex_match(names[i], r)) out[i].excluded = true;
        for (std::size_t k = 0; k < ov.size() && !out[i].excluded; ++k)
            if (std::regex_match(names[i], ov[k])) {
                out[i].sparsity = f.overrides[k].second;
                break;
            }
    }
    return out;
}

}  // namespace nnprune

#endif  // NNPRUNE_ALLOCATION_LAYER_FILTER_HPP
