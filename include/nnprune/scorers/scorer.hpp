#ifndef NNPRUNE_SCORERS_SCORER_HPP
#define NNPRUNE_SCORERS_SCORER_HPP

/// @file scorer.hpp
/// The `scorer` concept (a const function object that writes one float32 importance per weight of
/// a layer, higher = more important), the score buffer the prune loop hands it, and the helpers every
/// scorer shares (typed matrix access, finiteness checks). Users plug their own scorer (any callable
/// `void(const layer&, matrix_view<float>)`) or pass precomputed scores (precomputed.hpp).

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/buffer.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/layer.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/widen.hpp"

namespace nnprune {

/**
 * @brief A scorer writes scores(i, j) for every weight (i, j) of the layer's matrix
 * interpretation [rows, cols]; `scores` is contiguous float32 of exactly that extent.
 * A scorer may also provide `check(const layer&)`, which throws (naming the layer) when the layer
 * lacks what it needs; the prune loop calls it for every layer before any score is computed.
 */
template <class S>
concept scorer = requires(const S& s, const layer& l, matrix_view<float> out) {
    s(l, out);
};

/// A scorer with a validation hook.
template <class S>
concept checked_scorer = scorer<S> && requires(const S& s, const layer& l) {
    s.check(l);
};

/**
 * @brief What the prune loop may assume of a scorer; specialise it for your scorer (the defaults
 * are false; for compatibility they read `static constexpr bool` members of the same names).
 *  - row_local: the scores of weight row i depend only on row i of the weights and of the
 *    gradient and on the input statistic: scoring a layer whose weights (and gradient) are a
 *    block of the rows gives exactly those rows' scores. prune() then streams per_row layers a
 *    block of rows at a time (bind.hpp, prune/row_stream.hpp). A scorer that reads flat indices or
 *    whole-layer quantities (random, lamp, precomputed) is not row-local.
 *  - finite_scores: it never writes a NaN score when the weights and gradient are finite in
 *    float32 and the input statistic is finite and non-negative: prune() may then zero weights
 *    while later layers are still scored, since nothing can throw afterwards.
 */
template <class S>
struct scorer_traits {
    static constexpr bool row_local = [] {
        if constexpr (requires { S::row_local; })
            return static_cast<bool>(S::row_local);
        else
            return false;
    }();
    static constexpr bool finite_scores = [] {
        if constexpr (requires { S::finite_scores; })
            return static_cast<bool>(S::finite_scores);
        else
            return false;
    }();
};

/// A scorer whose traits say row_local.
template <class S>
concept row_local_scorer = scorer<S> && scorer_traits<S>::row_local;

/// A scorer whose traits say finite_scores.
template <class S>
concept finite_scorer = scorer<S> && scorer_traits<S>::finite_scores;

/// Calls s.check(l) when the scorer has one.
template <scorer S>
void check_scorer_input(const S& s, const layer& l) {
    if constexpr (checked_scorer<S>) s.check(l);
}

/// An owning float32 score tensor with the shape of a layer's weights.
class score_tensor {
public:
    score_tensor() = default;

    explicit score_tensor(const nnprune::shape& s) : m_shape(s) { detail::grow_buffer(m_data, s.numel()); }

    /// Reuses `storage` (e.g. the previous layer's scores): no new allocation or page faults when
    /// it is already large enough. The contents are unspecified until a scorer writes them.
    score_tensor(std::vector<float>&& storage, const nnprune::shape& s) : m_data(std::move(storage)), m_shape(s) {
        if (m_data.size() > s.numel())
            m_data.resize(s.numel());
        else
            detail::grow_buffer(m_data, s.numel());
    }

    /// Gives the storage back (for reuse); the score tensor is empty afterwards.
    [[nodiscard]] std::vector<float> release() noexcept {
        m_shape = nnprune::shape{};
        return std::move(m_data);
    }

    [[nodiscard]] const nnprune::shape& shape() const noexcept { return m_shape; }

    [[nodiscard]] std::size_t size() const noexcept { return m_data.size(); }

    [[nodiscard]] float* data() noexcept { return m_data.data(); }

    [[nodiscard]] const float* data() const noexcept { return m_data.data(); }

    [[nodiscard]] std::vector<float>& values() noexcept { return m_data; }

    [[nodiscard]] const std::vector<float>& values() const noexcept { return m_data; }

    /// The [rows, cols] matrix interpretation a scorer writes.
    [[nodiscard]] matrix_view<float> matrix() noexcept {
        return matrix_view<float>(m_data.data(), m_shape.rows(), m_shape.cols());
    }

    /// A read-only type-erased ref with the weights' shape (what select_mask takes).
    [[nodiscard]] tensor_ref ref() const {
        const float* p = m_data.data();
        switch (m_shape.rank()) {
            case 1:
                return tensor_view<const float, 1>(p, m_shape[0]);
            case 2:
                return tensor_view<const float, 2>(p, m_shape[0], m_shape[1]);
            case 3:
                return tensor_view<const float, 3>(p, m_shape[0], m_shape[1], m_shape[2]);
            default:
                return tensor_view<const float, 4>(p, m_shape[0], m_shape[1], m_shape[2], m_shape[3]);
        }
    }

private:
    std::vector<float> m_data;
    nnprune::shape m_shape{};
};

/// Scores one layer with s into a new score tensor (after s.check when it has one); with
/// `storage`, the tensor reuses that buffer instead of allocating.
template <scorer S>
[[nodiscard]] score_tensor score(const S& s, const layer& l, std::vector<float>&& storage = {}) {
    check_scorer_input(s, l);
    score_tensor out(std::move(storage), l.weights.shape());
    s(l, out.matrix());
    return out;
}

namespace detail {

/// Calls f(matrix_view<const T>) (Mutable: matrix_view<T>) with the ref's matrix
/// interpretation, T its element type.
template <bool Mutable = false, class F>
decltype(auto) visit_matrix(const tensor_ref& r, F&& f) {
    auto as = [&](auto tag) { return r.as_matrix<std::conditional_t<Mutable, decltype(tag), const decltype(tag)>>(); };
    switch (r.dtype()) {
        case dtype::f64:
            return f(as(double{}));
        case dtype::bf16:
            return f(as(bfloat16{}));
        case dtype::f16:
            return f(as(float16{}));
        case dtype::f32:
            break;
    }
    return f(as(float{}));
}

/// Row i of m widened to float into out[0, cols).
template <class T>
void row_to_float(const matrix_view<const T>& m, std::size_t i, float* out) noexcept {
    const std::size_t cols = m.extent(1);
    const T* p = m.data_handle() + static_cast<std::ptrdiff_t>(i) * m.stride(0);
    const std::ptrdiff_t s = m.stride(1);
    if constexpr (!std::is_same_v<T, double>) {
        if (s == 1) return simd::widen(p, cols, out);
    }
    for (std::size_t j = 0; j < cols; ++j) out[j] = to_float(p[static_cast<std::ptrdiff_t>(j) * s]);
}

/// For each row first_row + i of the weights w and gradient g: widens the weights' row into out's
/// row i and the gradient's row into gbuf (grown to cols), then calls f(out_row, grad_row, cols)
/// to combine them in place (the shared walk of the gradient-based scorers).
template <class F>
void for_each_weight_gradient_row(const tensor_ref& w, const tensor_ref& g, std::size_t first_row,
                                  matrix_view<float> out, std::vector<float>& gbuf, F&& f) {
    const std::size_t rows = out.extent(0), cols = out.extent(1);
    if (gbuf.size() < cols) gbuf.resize(cols);
    visit_matrix(w, [&](auto wm) {
        visit_matrix(g, [&](auto gm) {
            for (std::size_t i = 0; i < rows; ++i) {
                float* o = out.data_handle() + i * cols;
                row_to_float(wm, first_row + i, o);
                row_to_float(gm, first_row + i, gbuf.data());
                f(o, static_cast<const float*>(gbuf.data()), cols);
            }
        });
    });
}

/// A vector tensor (any rank, contiguous or not) widened to float.
inline std::vector<float> to_float_vector(const tensor_ref& r) {
    std::vector<float> v(r.size());
    if (r.is_contiguous()) {  // the common case: a plain loop (the row-streaming path calls this per row block)
        visit(r, [&](auto tv) {
            const auto* p = tv.data_handle();
            if constexpr (std::is_same_v<std::remove_cv_t<std::remove_pointer_t<decltype(p)>>, double>)
                for (std::size_t i = 0; i < v.size(); ++i) v[i] = to_float(p[i]);
            else
                simd::widen(p, v.size(), v.data());
        });
        return v;
    }
    visit(r, [&](auto tv) { for_each_indexed(tv, [&](std::size_t i, auto x) { v[i] = to_float(x); }); });
    return v;
}

/// Index of the first non-finite element of p[0, n) (n when all are finite): chunks are scanned
/// branch-free on the exponent bits (vectorised), only a chunk with a hit element by element.
template <class T>
[[nodiscard]] std::size_t first_non_finite(const T* p, std::size_t n) noexcept {
    using U = std::conditional_t<sizeof(T) == 8, std::uint64_t,
                                 std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint16_t>>;
    constexpr U exp = std::is_same_v<T, double>     ? U(0x7ff0000000000000ull)
                      : std::is_same_v<T, float>    ? U(0x7f800000u)
                      : std::is_same_v<T, bfloat16> ? U(0x7f80u)
                                                    : U(0x7c00u);  // float16
    constexpr std::size_t chunk = 2048;
    for (std::size_t b = 0; b < n; b += chunk) {
        const std::size_t e = n - b < chunk ? n : b + chunk;
        unsigned hit = 0;
        for (std::size_t j = b; j < e; ++j) {
            U u;
            std::memcpy(&u, p + j, sizeof(U));
            hit |= static_cast<unsigned>((u & exp) == exp);
        }
        if (hit)
            for (std::size_t j = b; j < e; ++j)
                if (!is_finite(p[j])) return j;
    }
    return n;
}

/// The first non-finite element of a tensor, in flat order: its index (r.size() when none) and
/// whether it is NaN (else Inf).
struct non_finite {
    std::size_t index;
    bool nan;
};

[[nodiscard]] inline non_finite find_non_finite(const tensor_ref& r) {
    non_finite f{r.size(), false};
    if (r.is_contiguous()) {  // the common case, at memory speed
        visit(r, [&](auto tv) {
            const auto* p = tv.data_handle();
            f.index = first_non_finite(p, r.size());
            f.nan = f.index < r.size() && is_nan(p[f.index]);
        });
        return f;
    }
    visit(r, [&](auto tv) {
        for_each_indexed(tv, [&](std::size_t i, auto x) {
            if (f.index == r.size() && !is_finite(x)) {
                f.index = i;
                f.nan = is_nan(x);
            }
        });
    });
    return f;
}

/// Throws value_error "<fn>: layer '<name>': <what> has NaN|Inf at flat index i" on the first
/// non-finite element.
inline void check_finite(const tensor_ref& r, std::string_view fn, std::string_view name, std::string_view what) {
    const non_finite f = find_non_finite(r);
    NNPRUNE_CHECK(
        f.index == r.size(), value_error,
        detail::str(fn, ": layer '", name, "': ", what, " has ", f.nan ? "NaN" : "Inf", " at flat index ", f.index));
}

/// Requires the layer's input statistic (for activation-aware scorers).
inline void require_input_stat(const layer& l, std::string_view fn) {
    NNPRUNE_PRECONDITION(
        l.input_stat.has_value(),
        detail::str(fn, ": layer '", l.name, "' has no input statistic (accumulate activations first)"));
    validate(l);
}

/// Requires the layer's gradient (for first-order scorers).
inline void require_gradient(const layer& l, std::string_view fn) {
    NNPRUNE_PRECONDITION(l.gradient.has_value(), detail::str(fn, ": layer '", l.name, "' has no gradient"));
    validate(l);
}

}  // namespace detail
}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_SCORER_HPP
