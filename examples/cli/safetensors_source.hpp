#ifndef NNPRUNE_EXAMPLES_CLI_SAFETENSORS_SOURCE_HPP
#define NNPRUNE_EXAMPLES_CLI_SAFETENSORS_SOURCE_HPP

/// @file safetensors_source.hpp
/// The tool's layer source (nnprune/prune/layer_source.hpp): the selected tensors of a
/// safetensors model, read with pread into reused buffers on acquire, and handed to a writer
/// when prune() releases them written. With `overlap`, a reader thread fetches layer i+1 while
/// layer i is pruned, and a writer thread writes layer i-1 meanwhile (three buffers); otherwise
/// everything runs on the calling thread in one buffer. The writes are staged (the writer fills
/// temporary files that the caller commits after prune() returns), so prune() needs no
/// validation pass.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tensor_io.hpp"
#include <nnprune/core/element.hpp>
#include <nnprune/core/layer.hpp>
#include <nnprune/core/shape.hpp>
#include <nnprune/core/tensor_ref.hpp>
#include <nnprune/core/tensor_view.hpp>

namespace nnprune_cli {

/// A tensor_ref of element type et and shape s over p (mutable unless Byte is const).
template <class Byte>
nnprune::tensor_ref typed_ref(nnprune::dtype et, Byte* p, const nnprune::shape& s) {
    constexpr bool ro = std::is_const_v<Byte>;
    auto make = [&](auto tag) -> nnprune::tensor_ref {
        using E = std::conditional_t<ro, const decltype(tag), decltype(tag)>;
        E* q = reinterpret_cast<E*>(p);
        switch (s.rank()) {
            case 1:
                return nnprune::tensor_view<E, 1>(q, s[0]);
            case 2:
                return nnprune::tensor_view<E, 2>(q, s[0], s[1]);
            case 3:
                return nnprune::tensor_view<E, 3>(q, s[0], s[1], s[2]);
            default:
                return nnprune::tensor_view<E, 4>(q, s[0], s[1], s[2], s[3]);
        }
    };
    switch (et) {
        case nnprune::dtype::f64:
            return make(double{});
        case nnprune::dtype::bf16:
            return make(nnprune::bfloat16{});
        case nnprune::dtype::f16:
            return make(nnprune::float16{});
        case nnprune::dtype::f32:
            break;
    }
    return make(float{});
}

/// Where a tensor's bytes are: a file, an offset, a size, its element type and shape.
struct tensor_place {
    const input_file* file = nullptr;
    std::uint64_t offset = 0;
    std::size_t bytes = 0;
    nnprune::dtype type = nnprune::dtype::f32;
};

/// One layer of the source: the weights, and optionally the statistic and the gradient.
struct source_layer {
    std::string name;
    nnprune::shape shape;
    tensor_place weights;
    std::optional<nnprune::tensor_ref> input_stat;  ///< resident (small)
    std::optional<tensor_place> gradient;           ///< read with the weights
    std::optional<tensor_place> hessian;            ///< [in, in], read with the weights
};

class safetensors_source {
public:
    static constexpr bool stages_writes = true;

    /// write(i, bytes): layer i's pruned bytes, in index order, on the writer thread (overlap) or
    /// the calling thread.
    safetensors_source(std::vector<source_layer> layers, bool overlap,
                       std::function<void(std::size_t, std::span<const std::byte>)> write)
        : m_layers(std::move(layers)), m_overlap(overlap), m_write(std::move(write)), m_slots(overlap ? 3 : 1) {
        std::size_t w = 0, g = 0, h = 0;
        for (const auto& l : m_layers) {
            w = std::max(w, l.weights.bytes);
            if (l.gradient) g = std::max(g, l.gradient->bytes);
            if (l.hessian) h = std::max(h, l.hessian->bytes);
        }
        for (auto& s : m_slots) {
            s.bytes.reserve(w);
            s.grad.reserve(g);
            s.hess.reserve(h);
        }
    }

    safetensors_source(const safetensors_source&) = delete;
    safetensors_source& operator=(const safetensors_source&) = delete;

    ~safetensors_source() { wait_all(); }

    [[nodiscard]] std::size_t size() const noexcept { return m_layers.size(); }

    [[nodiscard]] std::string_view name(std::size_t i) const noexcept { return m_layers[i].name; }

    [[nodiscard]] const nnprune::shape& shape(std::size_t i) const noexcept { return m_layers[i].shape; }

    /// Layer i, read into a buffer (or taken from the prefetch); the next layer's read starts.
    nnprune::layer acquire(std::size_t i) {
        std::size_t s = m_next_slot;
        if (m_prefetched && m_prefetch_item == i) {
            s = m_prefetch_slot;
            m_prefetched = false;
            m_slots[s].pending.get();  // the read (rethrows its error)
        } else {
            drop_prefetch();
            s = free_slot();
            read(i, m_slots[s]);
        }
        m_current = s;
        if (m_overlap && i + 1 < m_layers.size()) {
            const std::size_t t = free_slot();
            m_prefetch_slot = t;
            m_prefetch_item = i + 1;
            m_prefetched = true;
            m_slots[t].pending = std::async(std::launch::async, [this, t, j = i + 1] { read(j, m_slots[t]); }).share();
        }
        const source_layer& l = m_layers[i];
        slot& sl = m_slots[s];
        nnprune::layer out{l.name, typed_ref(l.weights.type, sl.bytes.take(l.weights.bytes).data(), l.shape),
                           l.input_stat, std::nullopt};
        if (l.gradient) out.gradient = typed_ref(l.gradient->type, sl.grad.take(l.gradient->bytes).data(), l.shape);
        if (l.hessian) {
            const std::size_t in = l.shape.cols();
            out.hessian = typed_ref(l.hessian->type, sl.hess.take(l.hessian->bytes).data(), nnprune::shape{in, in});
        }
        return out;
    }

    /// Done with layer i; when written (pruned in place), its bytes go to the writer.
    void release(std::size_t i, bool written) {
        const std::size_t s = m_current;
        if (!written) return;
        const std::span<const std::byte> bytes = m_slots[s].bytes.take(m_layers[i].weights.bytes);
        if (!m_overlap) {
            m_write(i, bytes);
            return;
        }
        // one write at a time, in order: each waits for the previous one
        m_slots[s].pending = std::async(std::launch::async, [this, i, bytes, prev = m_last_write] {
                                 if (prev.valid()) prev.get();
                                 m_write(i, bytes);
                             }).share();
        m_last_write = m_slots[s].pending;
    }

    /// Waits for every read and write (rethrows the first error of a write).
    void finish() {
        drop_prefetch();
        if (m_last_write.valid()) m_last_write.get();
        wait_all();
    }

private:
    struct slot {
        reused_buffer<std::byte> bytes, grad, hess;
        std::shared_future<void> pending;  ///< its read or write in flight
    };

    void read(std::size_t i, slot& sl) const {
        const source_layer& l = m_layers[i];
        l.weights.file->read(l.weights.offset, sl.bytes.take(l.weights.bytes));
        if (l.gradient) l.gradient->file->read(l.gradient->offset, sl.grad.take(l.gradient->bytes));
        if (l.hessian) l.hessian->file->read(l.hessian->offset, sl.hess.take(l.hessian->bytes));
    }

    /// A slot neither acquired nor prefetching, its last write finished (round robin).
    std::size_t free_slot() {
        for (;;) {
            const std::size_t s = m_next_slot;
            m_next_slot = (m_next_slot + 1) % m_slots.size();
            if (m_slots.size() > 1 && (s == m_current || (m_prefetched && s == m_prefetch_slot))) continue;
            if (m_slots[s].pending.valid()) m_slots[s].pending.wait();  // its write: errors surface in finish()
            return s;
        }
    }

    void drop_prefetch() noexcept {
        if (!m_prefetched) return;
        m_prefetched = false;
        m_slots[m_prefetch_slot].pending.wait();
        try {
            m_slots[m_prefetch_slot].pending.get();
        } catch (...) {  // a read nobody asked for
        }
    }

    void wait_all() noexcept {
        for (auto& s : m_slots)
            if (s.pending.valid()) s.pending.wait();
    }

    std::vector<source_layer> m_layers;
    bool m_overlap;
    std::function<void(std::size_t, std::span<const std::byte>)> m_write;
    std::vector<slot> m_slots;
    std::size_t m_next_slot = 0, m_current = static_cast<std::size_t>(-1);
    std::size_t m_prefetch_slot = 0, m_prefetch_item = 0;
    bool m_prefetched = false;
    std::shared_future<void> m_last_write;
};

}  // namespace nnprune_cli

#endif  // NNPRUNE_EXAMPLES_CLI_SAFETENSORS_SOURCE_HPP
