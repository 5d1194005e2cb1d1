#ifndef NNPRUNE_RECONSTRUCT_RECONSTRUCTOR_HPP
#define NNPRUNE_RECONSTRUCT_RECONSTRUCTOR_HPP

/// @file reconstructor.hpp
/// A reconstruction step runs on each layer after its mask is selected and before it is
/// reported: it may refine the mask (DSnoT), update the kept weights (SparseGPT's OBS update),
/// or choose the mask itself (SparseGPT's sweep). prune() and pruner run it through
/// prune_options::reconstruct; any type that models `reconstructor` works there:
///   struct my_step {
///       void reconstruct(const nnprune::layer& l, nnprune::mask_view m,
///                        const nnprune::reconstruct_context& c) const;        // required
///       void validate(const nnprune::layer& l, const nnprune::reconstruct_context& c) const;  // optional
///       bool writes_weights() const;  // optional (false): updates l.weights; needs apply
///       bool chooses_mask() const;    // optional (false): prune() skips its own selection
///   };
/// validate() runs in prune()'s validation pass, before anything is written, and should check
/// everything that can be checked cheaply; reconstruct() may still throw for a numerical failure
/// (see prune.hpp for what is written then).

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>

#include "../config.hpp"
#include "../core/layer.hpp"
#include "../masks/mask.hpp"
#include "../select/groups.hpp"
#include "../select/options.hpp"
#include "../select/policy.hpp"

namespace nnprune {

/// What a reconstruction step is told about the layer besides its tensors and mask.
struct reconstruct_context {
    std::size_t index = 0;    ///< the layer's index in the layer source
    amount target = 0.0;      ///< the allocation's amount for the layer, per comparison group
    std::size_t keep_n = 0;   ///< the pattern's N:M (N kept of every M) ...
    std::size_t group_m = 0;  ///< ... M; 0 when the pattern is not N:M
    rounding round = rounding::half_even;
    unsigned threads = 1;
};

template <class R>
concept reconstructor = requires(const R& r, const layer& l, mask_view m, const reconstruct_context& c) {
    r.reconstruct(l, m, c);
};

/// A reconstructor of any type, held by value (prune_options::reconstruct). Empty: no step.
class reconstruct_step {
public:
    reconstruct_step() = default;

    template <reconstructor R>
    reconstruct_step(R r)  // NOLINT(google-explicit-constructor): any reconstructor is a step
        : m_impl(std::make_shared<model<R>>(std::move(r))) {}

    [[nodiscard]] explicit operator bool() const noexcept { return m_impl != nullptr; }

    [[nodiscard]] bool writes_weights() const { return m_impl && m_impl->writes_weights(); }

    [[nodiscard]] bool chooses_mask() const { return m_impl && m_impl->chooses_mask(); }

    void validate(const layer& l, const reconstruct_context& c) const {
        if (m_impl) m_impl->validate(l, c);
    }

    void operator()(const layer& l, mask_view m, const reconstruct_context& c) const {
        if (m_impl) m_impl->reconstruct(l, m, c);
    }

private:
    struct concept_t {
        virtual ~concept_t() = default;
        virtual void reconstruct(const layer&, mask_view, const reconstruct_context&) const = 0;
        virtual void validate(const layer&, const reconstruct_context&) const = 0;
        [[nodiscard]] virtual bool writes_weights() const = 0;
        [[nodiscard]] virtual bool chooses_mask() const = 0;
    };

    template <class R>
    struct model final : concept_t {
        explicit model(R r) : step(std::move(r)) {}

        void reconstruct(const layer& l, mask_view m, const reconstruct_context& c) const override {
            step.reconstruct(l, m, c);
        }

        void validate(const layer& l, const reconstruct_context& c) const override {
            if constexpr (requires { step.validate(l, c); }) step.validate(l, c);
        }

        [[nodiscard]] bool writes_weights() const override {
            if constexpr (requires { step.writes_weights(); })
                return step.writes_weights();
            else
                return false;
        }

        [[nodiscard]] bool chooses_mask() const override {
            if constexpr (requires { step.chooses_mask(); })
                return step.chooses_mask();
            else
                return false;
        }

        R step;
    };

    std::shared_ptr<const concept_t> m_impl;
};

namespace detail {

/// A pattern's N:M (N kept of every M), or {0, 0}.
template <class P>
std::pair<std::size_t, std::size_t> pattern_n_of_m(const P& p) {
    if constexpr (std::is_same_v<P, n_of_m>)
        return {p.n, p.m};
    else if constexpr (requires {
                           P::n;
                           P::m;
                       })
        return {P::n, P::m};
    else
        return {0, 0};
}

}  // namespace detail

}  // namespace nnprune

#endif  // NNPRUNE_RECONSTRUCT_RECONSTRUCTOR_HPP
