#ifndef NNPRUNE_IO_SAFETENSORS_READER_HPP
#define NNPRUNE_IO_SAFETENSORS_READER_HPP

/// @file safetensors_reader.hpp
/// Reading safetensors without copying:
///  - safetensors_tensor: one tensor: name, file dtype, shape and its bytes; ref() / view<T, Rank>()
///    give nnprune views of F32/F64/BF16/F16 tensors of rank 0..4 (rank 0 is seen as [1]);
///    data<T>() gives a typed span for any dtype (integers, BOOL, floats);
///  - safetensors_view: a validated file held in memory the caller owns;
///  - safetensors_file: a file mapped read-only (views stay valid while the object lives).
/// Tensors stay valid while their file object lives (moving it is fine).
/// Sharded checkpoints are in safetensors_model.hpp. Everything is validated when opened
/// (see safetensors_header.hpp); views point into the mapping, so they are read-only.
/// Elements are used in place, so a tensor whose data is not aligned to its element size (only
/// possible in files not written by the reference writer or nnprune) is readable as bytes() only.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/shape.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "mapped_file.hpp"
#include "safetensors_header.hpp"

namespace nnprune {

namespace detail {
template <class T>
[[nodiscard]] constexpr bool safetensors_holds(safetensors_dtype d) noexcept {
    using U = std::remove_cv_t<T>;
    using D = safetensors_dtype;
    if constexpr (std::is_same_v<U, float>)
        return d == D::F32;
    else if constexpr (std::is_same_v<U, double>)
        return d == D::F64;
    else if constexpr (std::is_same_v<U, bfloat16>)
        return d == D::BF16;
    else if constexpr (std::is_same_v<U, float16>)
        return d == D::F16;
    else if constexpr (std::is_same_v<U, bool>)
        return d == D::BOOL;
    else if constexpr (std::is_same_v<U, std::uint8_t>)
        return d == D::U8 || d == D::BOOL || d == D::F8_E4M3 || d == D::F8_E5M2;
    else if constexpr (std::is_same_v<U, std::int8_t>)
        return d == D::I8;
    else if constexpr (std::is_same_v<U, std::int16_t>)
        return d == D::I16;
    else if constexpr (std::is_same_v<U, std::uint16_t>)
        return d == D::U16;
    else if constexpr (std::is_same_v<U, std::int32_t>)
        return d == D::I32;
    else if constexpr (std::is_same_v<U, std::uint32_t>)
        return d == D::U32;
    else if constexpr (std::is_same_v<U, std::int64_t>)
        return d == D::I64;
    else if constexpr (std::is_same_v<U, std::uint64_t>)
        return d == D::U64;
    else
        return false;
}
}  // namespace detail

/// One tensor of a validated safetensors file; points into memory owned by its file object.
class safetensors_tensor {
public:
    safetensors_tensor(const safetensors_entry& e, std::span<const std::byte> bytes, std::string_view file) noexcept
        : m_entry(&e), m_bytes(bytes), m_file(file) {}

    [[nodiscard]] const std::string& name() const noexcept { return m_entry->name; }

    [[nodiscard]] safetensors_dtype dtype() const noexcept { return m_entry->dtype; }

    [[nodiscard]] const std::vector<std::uint64_t>& shape() const noexcept { return m_entry->shape; }

    [[nodiscard]] std::size_t rank() const noexcept { return m_entry->shape.size(); }

    [[nodiscard]] std::uint64_t numel() const noexcept { return m_entry->numel; }

    /// The raw little-endian bytes (always available, any dtype, any rank, any alignment).
    [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return m_bytes; }

    /// True for F32, F64, BF16, F16 (the dtypes ref() and view() accept).
    [[nodiscard]] bool is_element() const noexcept { return element_dtype(dtype()).has_value(); }

    /// The nnprune shape (rank 0 becomes [1]). @throws shape_error for rank > 4.
    [[nodiscard]] nnprune::shape nn_shape() const {
        NNPRUNE_CHECK(rank() <= max_rank, shape_error,
                      detail::str("safetensors: ", m_file, ": tensor '", name(), "' has rank ", rank(),
                                  "; nnprune views take rank <= ", max_rank, " (use bytes())"));
        if (rank() == 0) return nnprune::shape{1};
        std::size_t ext[max_rank]{};
        for (std::size_t r = 0; r < rank(); ++r) ext[r] = static_cast<std::size_t>(shape()[r]);
        return nnprune::shape(ext, rank());
    }

    /// A read-only type-erased view of an F32/F64/BF16/F16 tensor.
    /// @throws precondition_error for other dtypes, shape_error for rank > 4, format_error when misaligned.
    [[nodiscard]] tensor_ref ref() const {
        const auto et = element_dtype(dtype());
        NNPRUNE_CHECK(et.has_value(), precondition_error,
                      detail::str("safetensors: ", m_file, ": tensor '", name(), "' is ", name_of(dtype()),
                                  "; ref() takes F32, F64, BF16 or F16 (use data<T>())"));
        const nnprune::shape s = nn_shape();
        check_aligned(size_of(*et));
        auto make = [&](auto tag) -> tensor_ref {
            using T = const decltype(tag);
            const T* p = reinterpret_cast<T*>(m_bytes.data());
            switch (s.rank()) {
                case 1:
                    return tensor_view<T, 1>(p, s[0]);
                case 2:
                    return tensor_view<T, 2>(p, s[0], s[1]);
                case 3:
                    return tensor_view<T, 3>(p, s[0], s[1], s[2]);
                default:
                    return tensor_view<T, 4>(p, s[0], s[1], s[2], s[3]);
            }
        };
        switch (*et) {
            case nnprune::dtype::f64:
                return make(double{});
            case nnprune::dtype::bf16:
                return make(bfloat16{});
            case nnprune::dtype::f16:
                return make(float16{});
            case nnprune::dtype::f32:
                break;
        }
        return make(float{});
    }

    /// A typed read-only view. @throws as ref() and tensor_ref::as().
    template <element T, std::size_t Rank>
    [[nodiscard]] tensor_view<const T, Rank> view() const {
        return ref().template as<const T, Rank>();
    }

    /// The elements as a flat span of T, where T matches the dtype: float F32, double F64,
    /// bfloat16 BF16, float16 F16, std::int8_t..std::int64_t I8..I64, std::uint8_t U8 / BOOL / F8_*,
    /// std::uint16_t..std::uint64_t U16..U64, bool BOOL (every byte is checked to be 0 or 1).
    /// @throws precondition_error on a dtype mismatch, format_error when misaligned or a BOOL byte is not 0/1.
    template <class T>
    [[nodiscard]] std::span<const T> data() const {
        NNPRUNE_CHECK(detail::safetensors_holds<T>(dtype()), precondition_error,
                      detail::str("safetensors: ", m_file, ": tensor '", name(), "' is ", name_of(dtype()),
                                  ", asked for a ", sizeof(T), "-byte element type that does not hold it"));
        check_aligned(alignof(T));
        if constexpr (std::is_same_v<std::remove_cv_t<T>, bool>) {
            for (std::size_t i = 0; i < m_bytes.size(); ++i)
                NNPRUNE_CHECK(static_cast<unsigned>(m_bytes[i]) <= 1, format_error,
                              detail::str("safetensors: ", m_file, ": tensor '", name(), "': BOOL element ", i, " is ",
                                          static_cast<unsigned>(m_bytes[i]), ", not 0 or 1"));
        }
        return {reinterpret_cast<const T*>(m_bytes.data()), m_bytes.size() / sizeof(T)};
    }

private:
    void check_aligned(std::size_t align) const {
        NNPRUNE_CHECK(reinterpret_cast<std::uintptr_t>(m_bytes.data()) % align == 0, format_error,
                      detail::str("safetensors: ", m_file, ": tensor '", name(), "' data is not aligned to ", align,
                                  " bytes; it can only be read with bytes()"));
    }

    const safetensors_entry* m_entry;
    std::span<const std::byte> m_bytes;
    std::string_view m_file;
};

/// A validated safetensors file in caller-owned memory (which must outlive the view).
class safetensors_view {
public:
    safetensors_view() = default;

    /// Validates `bytes` (the whole file). @throws format_error naming `file`, the tensor and the problem.
    safetensors_view(std::span<const std::byte> bytes, std::string file)
        : m_file(std::make_shared<const std::string>(std::move(file))),
          m_bytes(bytes),
          m_header(parse_safetensors_header(bytes, *m_file)) {
        for (std::size_t i = 0; i < m_header.tensors.size(); ++i) m_index.emplace(m_header.tensors[i].name, i);
    }

    // tensors point into m_header's and m_file's heap storage, so they survive moves of the view
    safetensors_view(safetensors_view&&) noexcept = default;
    safetensors_view& operator=(safetensors_view&&) noexcept = default;
    safetensors_view(const safetensors_view&) = delete;
    safetensors_view& operator=(const safetensors_view&) = delete;

    [[nodiscard]] const std::string& file() const noexcept { return *m_file; }

    [[nodiscard]] std::size_t size() const noexcept { return m_header.tensors.size(); }

    [[nodiscard]] bool contains(std::string_view name) const { return m_index.find(name) != m_index.end(); }

    [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return m_header.metadata; }

    [[nodiscard]] const safetensors_header& header() const noexcept { return m_header; }

    /// Tensor names in data order.
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& e : m_header.tensors) out.push_back(e.name);
        return out;
    }

    /// The i-th tensor in data order. @pre i < size()
    [[nodiscard]] safetensors_tensor at(std::size_t i) const {
        const auto& e = m_header.tensors[i];
        return safetensors_tensor(e,
                                  m_bytes.subspan(static_cast<std::size_t>(m_header.data_start + e.begin),
                                                  static_cast<std::size_t>(e.end - e.begin)),
                                  *m_file);
    }

    /// The tensor named `name`. @throws precondition_error when there is none.
    [[nodiscard]] safetensors_tensor tensor(std::string_view name) const {
        const auto it = m_index.find(name);
        NNPRUNE_CHECK(it != m_index.end(), precondition_error,
                      detail::str("safetensors: ", *m_file, ": no tensor named '", name, "'"));
        return at(it->second);
    }

private:
    std::shared_ptr<const std::string> m_file = std::make_shared<const std::string>();
    std::span<const std::byte> m_bytes;
    safetensors_header m_header;
    std::map<std::string, std::size_t, std::less<>> m_index;
};

/**
 * @brief A safetensors file mapped read-only and validated.
 * @code
 * nnprune::safetensors_file f("model.safetensors");
 * nnprune::tensor_ref w = f.tensor("model.layers.0.mlp.up_proj.weight").ref();   // no copy
 * @endcode
 */
class safetensors_file {
public:
    /// @throws io_error when the file cannot be mapped, format_error when it is malformed.
    explicit safetensors_file(const std::filesystem::path& path) : m_map(path), m_view(m_map.bytes(), path.string()) {}

    [[nodiscard]] const safetensors_view& view() const noexcept { return m_view; }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_map.path(); }

    [[nodiscard]] std::size_t size() const noexcept { return m_view.size(); }

    [[nodiscard]] bool contains(std::string_view name) const { return m_view.contains(name); }

    [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return m_view.metadata(); }

    [[nodiscard]] std::vector<std::string> names() const { return m_view.names(); }

    [[nodiscard]] safetensors_tensor at(std::size_t i) const { return m_view.at(i); }

    [[nodiscard]] safetensors_tensor tensor(std::string_view name) const { return m_view.tensor(name); }

private:
    mapped_file m_map;
    safetensors_view m_view;
};

}  // namespace nnprune

#endif  // NNPRUNE_IO_SAFETENSORS_READER_HPP
