#ifndef NNPRUNE_PRUNE_CONTEXT_HPP
#define NNPRUNE_PRUNE_CONTEXT_HPP

/// @file context.hpp
/// prune()'s prune_context (allocation/plan.hpp) over a layer source and a scorer: layers are
/// acquired one at a time, checked at their first acquisition, scored into the reused buffer.

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../allocation/layer_filter.hpp"
#include "../allocation/plan.hpp"
#include "../config.hpp"
#include "../core/layer.hpp"
#include "../core/shape.hpp"
#include "../masks/mask.hpp"
#include "../scorers/scorer.hpp"
#include "layer_source.hpp"
#include "options.hpp"
#include "scratch.hpp"
#include "validate.hpp"

namespace nnprune::detail {

/// What prune() knows of its layers without acquiring them.
struct layer_index {
    std::vector<std::string> names;
    std::vector<nnprune::shape> shapes;
    std::vector<layer_choice> choices;
};

template <layer_source Src, scorer S>
class source_context final : public prune_context {
public:
    source_context(Src& src, const S& s, const prune_options& o, const layer_index& idx, layer_checks& checks,
                   score_pool& pool, const char* fn)
        : m_src(src), m_s(s), m_o(o), m_idx(idx), m_checks(checks), m_pool(pool), m_fn(fn) {}

    [[nodiscard]] std::size_t size() const noexcept override { return m_idx.names.size(); }

    [[nodiscard]] std::string_view name(std::size_t i) const override { return m_idx.names[i]; }

    [[nodiscard]] const nnprune::shape& shape(std::size_t i) const override { return m_idx.shapes[i]; }

    [[nodiscard]] const_mask_view previous(std::size_t i) const override {
        return m_o.previous.empty() ? const_mask_view{} : m_o.previous[i];
    }

    [[nodiscard]] const layer_choice& choice(std::size_t i) const override { return m_idx.choices[i]; }

    [[nodiscard]] const prune_options& options() const noexcept override { return m_o; }

    void scores(std::size_t i, const std::function<void(const score_tensor&)>& f) override {
        with_layer(i, [&](const layer& l) {
            const pooled_scores sc(m_pool, m_s, l, m_o.threads);
            f(sc.get());
        });
    }

    void with_layer(std::size_t i, const std::function<void(const layer&)>& f) override {
        acquired<Src> a(m_src, i);
        check(i, a.get());
        f(a.get());
        a.release(false);
    }

    /// Runs layer i's data checks (once).
    void check(std::size_t i, const layer& l) { m_checks.run(i, l, m_idx.shapes[i], m_s, m_o, m_fn); }

private:
    Src& m_src;
    const S& m_s;
    const prune_options& m_o;
    const layer_index& m_idx;
    layer_checks& m_checks;
    score_pool& m_pool;
    const char* m_fn;
};

}  // namespace nnprune::detail

#endif  // NNPRUNE_PRUNE_CONTEXT_HPP
