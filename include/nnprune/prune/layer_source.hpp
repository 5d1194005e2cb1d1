#ifndef NNPRUNE_PRUNE_LAYER_SOURCE_HPP
#define NNPRUNE_PRUNE_LAYER_SOURCE_HPP

/// @file layer_source.hpp
/// Where prune() gets its layers: one at a time, on demand. std::span<const layer>,
/// std::vector<layer> (any contiguous range of layers) are sources as they are; a model read
/// from disk is one too (tensors mapped or read into a buffer on acquire, written out on release).
///
/// A layer source `src` models `layer_source` with:
///   src.size()              the number of layers (> 0);
///   src.name(i)             layer i's name (unique), without loading it;
///   src.shape(i)            layer i's weight shape, without loading it;
///   src.acquire(i)          layer i (anything convertible to const layer&: a layer by value, or a
///                           reference); its views stay valid until release(i, ...);
///   src.release(i, written) done with layer i; `written` is true when prune() zeroed pruned
///                           weights in it (options.apply), so the source may write it out now.
///                           With written == false it must not throw (prune() also calls it while
///                           unwinding from an error).
/// Optional: `static constexpr bool stages_writes = true;` (see layer_source_traits).
///
/// The contract prune() keeps:
///  - at most one layer is acquired at a time, always released before the next acquire (also on
///    error); layers are acquired in ascending index order within each pass;
///  - a pass acquires each layer it needs once. Layer scope (uniform, per_layer, ERK, N:M):
///    one pass. Allocations that read scores (owl, lamp_global) or select jointly (global) add
///    planning passes before it, each acquiring the layers once (global: one scoring pass in the
///    common case, a few more only when its candidates overflow; owl blocks of several layers: two);
///    with options.apply the last pass zeroes each layer and releases it written;
///  - validate before mutate: with options.apply, prune() first runs a validation pass over every
///    layer (shapes, read-only weights, NaN/Inf under nan_policy::reject, the scorer's check), so
///    that no layer is written unless every layer is valid — unless the source stages its writes
///    (stages_writes: it discards what was released written when prune() throws, e.g. it writes a
///    temporary file that the caller commits after prune() returns), in which case each layer is
///    validated when first acquired and no validation pass is made. Without apply nothing is
///    written and each layer is validated when first acquired;
///  - weights are modified only between acquire and release(i, true), only with options.apply,
///    and only pruned weights are set to zero; the scorer's threads (options.threads) work inside
///    one acquired layer;
///  - when a later layer could still fail after an earlier one was written (a NaN score under
///    nan_policy::reject from a scorer that does not declare finite_scores, see scorer_traits),
///    prune() selects every mask first and zeroes in a separate pass (one more acquisition each).

#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "../core/layer.hpp"
#include "../core/shape.hpp"

namespace nnprune {

template <class Src>
concept layer_source = requires(Src& s, const Src& cs, std::size_t i, bool written) {
    { cs.size() } -> std::convertible_to<std::size_t>;
    { cs.name(i) } -> std::convertible_to<std::string_view>;
    { cs.shape(i) } -> std::convertible_to<nnprune::shape>;
    { s.acquire(i) } -> std::convertible_to<const layer&>;
    s.release(i, written);
};

/// What prune() may assume of a source: stages_writes (default false; reads Src::stages_writes).
template <class Src>
struct layer_source_traits {
    static constexpr bool stages_writes = [] {
        if constexpr (requires { Src::stages_writes; }) return static_cast<bool>(Src::stages_writes);
        else return false;
    }();
};

/// Resident layers as a source: acquire is a reference, release does nothing.
class span_source {
public:
    explicit span_source(std::span<const layer> layers) noexcept : m_layers(layers) {}
    [[nodiscard]] std::size_t size() const noexcept { return m_layers.size(); }
    [[nodiscard]] std::string_view name(std::size_t i) const noexcept { return m_layers[i].name; }
    [[nodiscard]] const nnprune::shape& shape(std::size_t i) const noexcept { return m_layers[i].weights.shape(); }
    [[nodiscard]] const layer& acquire(std::size_t i) const noexcept { return m_layers[i]; }
    void release(std::size_t, bool) const noexcept {}

private:
    std::span<const layer> m_layers;
};
static_assert(layer_source<span_source>);

/// What prune() takes as layers: a layer_source, or a contiguous range of layers.
template <class R>
concept layers_or_source = layer_source<std::remove_cvref_t<R>> || std::convertible_to<R, std::span<const layer>>;

namespace detail {

/// The source of prune()'s first argument: a span_source over a range, or the source itself.
template <class R>
decltype(auto) source_of(R&& r) {
    if constexpr (layer_source<std::remove_cvref_t<R>>) return (r);
    else return span_source(std::span<const layer>(r));
}

/// Layer i acquired for the scope of this object; released unwritten on error.
template <layer_source Src>
class acquired {
public:
    acquired(Src& src, std::size_t i) : m_src(src), m_i(i), m_handle(src.acquire(i)) {}
    acquired(const acquired&) = delete;
    acquired& operator=(const acquired&) = delete;
    ~acquired() {
        if (!m_released) m_src.release(m_i, false);
    }
    [[nodiscard]] const layer& get() const noexcept { return m_handle; }
    void release(bool written) {
        m_released = true;
        m_src.release(m_i, written);
    }

private:
    Src& m_src;
    std::size_t m_i;
    decltype(std::declval<Src&>().acquire(std::size_t{})) m_handle;
    bool m_released = false;
};

}  // namespace detail
}  // namespace nnprune

#endif  // NNPRUNE_PRUNE_LAYER_SOURCE_HPP
