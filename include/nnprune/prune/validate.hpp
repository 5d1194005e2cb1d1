#ifndef NNPRUNE_PRUNE_VALIDATE_HPP
#define NNPRUNE_PRUNE_VALIDATE_HPP

/// @file validate.hpp
/// prune()'s checks: what can be checked from the source's names and shapes (before any layer is
/// acquired), and what needs a layer's data (when it is first acquired, or in the validation pass).

#include <cstddef>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/layer.hpp"
#include "../core/shape.hpp"
#include "../scorers/scorer.hpp"
#include "../select/pattern.hpp"
#include "options.hpp"
#include "row_stream.hpp"

namespace nnprune::detail {

/// Names unique, previous masks matching, the pattern applicable to every shape. Writes nothing.
template <class P>
void validate_structure(std::span<const std::string> names, std::span<const nnprune::shape> shapes, const P& p,
                        const prune_options& o, const char* fn) {
    NNPRUNE_PRECONDITION(!names.empty(), detail::str(fn, ": empty layer list"));
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < names.size(); ++i) {
        NNPRUNE_PRECONDITION(seen.insert(names[i]).second, detail::str(fn, ": duplicate layer name '", names[i], "'"));
        pattern_traits<P>::check(p, shapes[i], names[i]);
    }
    NNPRUNE_CHECK(o.previous.empty() || o.previous.size() == names.size(), shape_error,
                  detail::str(fn, ": ", names.size(), " layers but ", o.previous.size(), " previous masks"));
    for (std::size_t i = 0; i < o.previous.size(); ++i)
        NNPRUNE_CHECK(o.previous[i].shape() == shapes[i], shape_error,
                      detail::str(fn, ": layer '", names[i], "': previous mask has ", o.previous[i].shape(),
                                  " elements, weights have ", shapes[i]));
}

/**
 * @brief Exact counts in the plan checked against their groups before any layer is selected
 * (per_tensor: the competing count; other patterns without previous masks: group_elements).
 * Returns false when some count can only be checked while selecting (then prune() writes only
 * after every mask is selected).
 */
template <class P, class Plan>
bool check_counts(const P& p, const Plan& plan, std::span<const std::string> names,
                  std::span<const nnprune::shape> shapes, const prune_options& o, const char* fn) {
    bool checked = true;
    for (std::size_t i = 0; i < plan.size(); ++i) {
        if (!plan[i].prune || !plan[i].prune->is_count()) continue;
        std::size_t group = 0;
        if constexpr (std::is_same_v<P, per_tensor>) {
            group = o.previous.empty() ? shapes[i].numel() : o.previous[i].count();
        } else if constexpr (pattern_traits<P>::has_groups) {
            if (!o.previous.empty()) {
                checked = false;
                continue;
            }
            group = pattern_traits<P>::group_elements(p, shapes[i]);
        } else {
            checked = false;
            continue;
        }
        NNPRUNE_PRECONDITION(plan[i].prune->count() <= group,
                             detail::str(fn, ": layer '", names[i], "': asked to prune exactly ", plan[i].prune->count(),
                                         " of a group of ", group));
    }
    return checked;
}

/// Each layer's data checks, run once (at its first acquisition, or in the validation pass).
class layer_checks {
public:
    explicit layer_checks(std::size_t n) : m_done(n, 0) {}

    /// The layer's tensors agree with each other and with the source's shape; writable when
    /// apply is asked; finite under nan_policy::reject; what the scorer needs.
    template <class S>
    void run(std::size_t i, const layer& l, const nnprune::shape& expected, const S& s, const prune_options& o,
             const char* fn) {
        if (m_done[i]) return;
        NNPRUNE_CHECK(l.weights.shape() == expected, shape_error,
                      detail::str(fn, ": layer '", l.name, "': weights have ", l.weights.shape(),
                                  ", the source said ", expected));
        validate(l);
        NNPRUNE_PRECONDITION(!o.apply || !l.weights.readonly(),
                             detail::str(fn, ": layer '", l.name, "': weights are read-only but apply was asked"));
        if (o.nans == nan_policy::reject) {
            check_finite(l.weights, fn, l.name, "weights");
            if (l.input_stat) check_finite(*l.input_stat, fn, l.name, "input statistic");
            if (l.gradient) check_finite(*l.gradient, fn, l.name, "gradient");
            if (m_finite) m_finite = finite_scorer<S> && scores_surely_finite(l);
        }
        check_scorer_input(s, l);
        m_matrices = m_matrices && l.weights.has_matrix() && (!l.gradient || l.gradient->has_matrix());
        m_done[i] = 1;
    }

    /// Every layer run so far surely scores without NaN (meaningful under nan_policy::reject).
    [[nodiscard]] bool surely_finite() const noexcept { return m_finite; }
    /// Every layer run so far has matrix interpretations of its weights and gradient (a scorer
    /// cannot fail on them while scoring).
    [[nodiscard]] bool matrices() const noexcept { return m_matrices; }

private:
    std::vector<char> m_done;
    bool m_finite = true, m_matrices = true;
};

}  // namespace nnprune::detail

#endif  // NNPRUNE_PRUNE_VALIDATE_HPP
