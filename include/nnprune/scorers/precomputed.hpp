#ifndef NNPRUNE_SCORERS_PRECOMPUTED_HPP
#define NNPRUNE_SCORERS_PRECOMPUTED_HPP

/// @file precomputed.hpp
/// Scores the user computed elsewhere (another framework, a custom criterion), looked up by layer
/// name. The tensors are referenced, not copied, until the prune loop scores.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "scorer.hpp"

namespace nnprune {

/// One score tensor per layer name, with the shape of that layer's weights (any element type).
struct precomputed_scores {
    std::vector<std::pair<std::string, tensor_ref>> scores;

    [[nodiscard]] const tensor_ref* find(std::string_view name) const noexcept {
        for (const auto& [n, r] : scores)
            if (n == name) return &r;
        return nullptr;
    }

    void check(const layer& l) const {
        const tensor_ref* r = find(l.name);
        NNPRUNE_PRECONDITION(r != nullptr, detail::str("precomputed_scores: no scores for layer '", l.name, "'"));
        NNPRUNE_CHECK(r->shape() == l.weights.shape(), shape_error,
                      detail::str("precomputed_scores: layer '", l.name, "': scores have shape ", r->shape(),
                                  ", weights have ", l.weights.shape()));
    }

    void operator()(const layer& l, matrix_view<float> out) const {
        check(l);
        const auto v = detail::to_float_vector(*find(l.name));
        for (std::size_t i = 0; i < v.size(); ++i) out.data_handle()[i] = v[i];
    }
};

static_assert(checked_scorer<precomputed_scores>);

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_PRECOMPUTED_HPP
