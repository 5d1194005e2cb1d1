#ifndef NNPRUNE_SCORERS_BIND_HPP
#define NNPRUNE_SCORERS_BIND_HPP

/// @file bind.hpp
/// Two-phase scoring. Binding a scorer to a layer validates it and does the per-layer setup once
/// (e.g. Wanda's sqrt of the statistic); the bound scorer then scores blocks of rows without
/// validating or allocating again:
///   auto b = nnprune::bind_rows(nnprune::wanda, l);  // checks l, computes sqrt(stat)
///   b(first_row, out);  // out: [n, cols] float32, the scores of rows [first_row, first_row + n)
/// A scorer opts in with `bind(const layer&) const` returning a row_scorer; a row-local scorer
/// (scorer_traits) without one gets a default adapter that calls it on sub-layers of rows. A bound
/// scorer may hold scratch: bind one per thread. prune() streams per_row layers through it
/// (prune/row_stream.hpp).

#include <cstddef>
#include <optional>
#include <type_traits>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/layer.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "scorer.hpp"

namespace nnprune {

/// Scores blocks of rows of the layer it was bound to: b(first_row, out) writes out's rows.
template <class B>
concept row_scorer = requires(B& b, std::size_t first_row, matrix_view<float> out) { b(first_row, out); };

/// A scorer with its own bind.
template <class S>
concept bindable_scorer = scorer<S> && requires(const S& s, const layer& l) {
    { s.bind(l) } -> row_scorer;
};

/// A scorer that can score blocks of rows: bindable, or row-local (through the default adapter).
template <class S>
concept row_block_scorer = bindable_scorer<S> || row_local_scorer<S>;

namespace detail {

/// A tensor's matrix interpretation [rows, cols] as a raw pointer and element strides.
struct matrix_geometry {
    void* data = nullptr;
    std::ptrdiff_t s0 = 0, s1 = 1;
    nnprune::dtype type = nnprune::dtype::f32;
    std::size_t rows = 0, cols = 0;
};

/// @throws shape_error (tensor_ref::as_matrix) when the trailing dimensions cannot be merged.
inline matrix_geometry geometry_of(const tensor_ref& r) {
    return visit_matrix(r, [&](auto m) {
        return matrix_geometry{const_cast<void*>(static_cast<const void*>(m.data_handle())), m.stride(0), m.stride(1),
                               r.dtype(), m.extent(0), m.extent(1)};
    });
}

/// Rows [b0, b0 + nb) of the matrix as a read-only rank-2 ref.
inline tensor_ref row_block(const matrix_geometry& g, std::size_t b0, std::size_t nb) {
    return with_type(g.type, g.data, [&](auto p) -> tensor_ref {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(p)>>;
        return matrix_view<const T>(p + static_cast<std::ptrdiff_t>(b0) * g.s0, {nb, g.cols}, {g.s0, g.s1});
    });
}

/// The default bind of a row-local scorer: it scores a sub-layer whose weights (and gradient)
/// are the block's rows. The sub-layer is built once (its name copied once).
template <scorer S>
class sub_layer_rows {
public:
    sub_layer_rows(const S& s, const layer& l)
        : m_s(s), m_w(geometry_of(l.weights)), m_sub{l.name, {}, l.input_stat, std::nullopt} {
        if (l.gradient) m_g = geometry_of(*l.gradient);
    }
    void operator()(std::size_t first_row, matrix_view<float> out) {
        const std::size_t nb = out.extent(0);
        m_sub.weights = row_block(m_w, first_row, nb);
        if (m_g) m_sub.gradient = row_block(*m_g, first_row, nb);
        m_s(static_cast<const layer&>(m_sub), out);
    }

private:
    const S& m_s;
    matrix_geometry m_w;
    std::optional<matrix_geometry> m_g;
    layer m_sub;
};

}  // namespace detail

/**
 * @brief The scorer bound to layer l: s.bind(l), or for a row-local scorer without one, the
 * default adapter (after s.check(l)).
 * @throws what the scorer's check throws; shape_error when the weights or the gradient have no
 * matrix interpretation.
 */
template <row_block_scorer S>
[[nodiscard]] auto bind_rows(const S& s, const layer& l) {
    if constexpr (bindable_scorer<S>) {
        return s.bind(l);
    } else {
        check_scorer_input(s, l);
        return detail::sub_layer_rows<S>(s, l);
    }
}

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_BIND_HPP
