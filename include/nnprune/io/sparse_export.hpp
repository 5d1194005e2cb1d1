#ifndef NNPRUNE_IO_SPARSE_EXPORT_HPP
#define NNPRUNE_IO_SPARSE_EXPORT_HPP

/// @file sparse_export.hpp
/// Compressed weights (sparse/compressed.hpp) in safetensors files. For a matrix called <name>:
///   CSR      "<name>.values" [nnz] (weight dtype), "<name>.col_indices" [nnz] (I32 or I64),
///            "<name>.row_ptr" [rows + 1] (I64);             __metadata__ "nnprune.sparse.<name>": "csr RxC"
///   N:M      "<name>.values" [rows, cols / M * N] (weight dtype), "<name>.metadata" [rows, bytes_per_row]
///            (U8, the index bit stream);                      __metadata__ "nnprune.sparse.<name>": "nm N:M RxC"
///   bitmask  "<name>.values" [nnz] (weight dtype), "<name>.bitmask" [ceil(R*C / 8)] (U8, bit i % 8
///            of byte i / 8);                                  __metadata__ "nnprune.sparse.<name>": "bitmask RxC"
/// add_*() register a form with a safetensors_writer (by reference: keep it alive until write());
/// read_*() load one back from a validated file, checking dtypes, shapes and the form's invariants
/// (format_error naming the file and the matrix).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../sparse/compressed.hpp"
#include "safetensors_reader.hpp"
#include "safetensors_writer.hpp"

namespace nnprune {

namespace detail {

template <class T>
[[nodiscard]] safetensors_dtype st_dtype_of() noexcept {
    if constexpr (std::is_same_v<T, std::int32_t>)
        return safetensors_dtype::I32;
    else if constexpr (std::is_same_v<T, std::int64_t>)
        return safetensors_dtype::I64;
    else if constexpr (std::is_same_v<T, std::uint8_t>)
        return safetensors_dtype::U8;
    else
        return safetensors_dtype_of(dtype_of<T>);
}

template <class T>
void add_vec(safetensors_writer& w, const std::string& name, std::vector<std::uint64_t> shape,
             const std::vector<T>& v) {
    w.add_span<T>(name, st_dtype_of<T>(), std::move(shape), std::span<const T>(v));
}

/// Reads "<matrix>.<part>" as a vector of T with the expected shape. @throws format_error.
template <class T>
[[nodiscard]] std::vector<T> read_part(const safetensors_view& f, const std::string& matrix, const char* part,
                                       const std::vector<std::uint64_t>& shape) {
    const std::string name = matrix + "." + part;
    const auto fail = [&](const std::string& what) {
        NNPRUNE_THROW(format_error, str("read_sparse: ", f.file(), ": ", name, ": ", what));
    };
    if (!f.contains(name)) fail("missing");
    const auto t = f.tensor(name);
    if (t.dtype() != st_dtype_of<T>()) fail(str("is ", name_of(t.dtype()), ", expected ", name_of(st_dtype_of<T>())));
    if (t.shape() != shape) {
        const auto text = [](const std::vector<std::uint64_t>& v) {
            std::string o;
            for (auto e : v) o += (o.empty() ? "" : "x") + std::to_string(e);
            return "[" + o + "]";
        };
        fail(str("has shape ", text(t.shape()), ", expected ", text(shape)));
    }
    std::vector<T> out(t.numel());
    if (!out.empty()) std::memcpy(out.data(), t.bytes().data(), t.bytes().size());  // no alignment needed
    return out;
}

struct sparse_header {
    std::string kind;
    std::size_t n = 0, m = 0, rows = 0, cols = 0;
};

[[nodiscard]] inline sparse_header read_sparse_header(const safetensors_view& f, const std::string& matrix,
                                                      const char* kind) {
    const auto fail = [&](const std::string& what) {
        NNPRUNE_THROW(format_error, str("read_sparse: ", f.file(), ": matrix '", matrix, "': ", what));
    };
    const auto it = f.metadata().find("nnprune.sparse." + matrix);
    if (it == f.metadata().end()) fail("no \"nnprune.sparse." + matrix + "\" in __metadata__");
    sparse_header h;
    unsigned long long a = 0, b = 0, r = 0, c = 0;
    char k[16] = {};
    int used = 0;
    const std::string& s = it->second;
    if (s.rfind("nm ", 0) == 0 && std::sscanf(s.c_str(), "nm %llu:%llu %llux%llu%n", &a, &b, &r, &c, &used) == 4)
        h.kind = "nm";
    else if (std::sscanf(s.c_str(), "%15s %llux%llu%n", k, &r, &c, &used) == 3)
        h.kind = k;
    if (h.kind != kind || used != static_cast<int>(s.size()) || s.find('-') != std::string::npos)
        fail(
            str("__metadata__ says '", s, "', expected \"", kind, kind == std::string("nm") ? " N:M RxC\"" : " RxC\""));
    if (r > (1ull << 48) || c > (1ull << 48) || (r != 0 && c > (1ull << 48) / r) || a > 256 || b > 256)
        fail(str("sizes in '", s, "' are out of range"));
    h.n = static_cast<std::size_t>(a);
    h.m = static_cast<std::size_t>(b);
    h.rows = static_cast<std::size_t>(r);
    h.cols = static_cast<std::size_t>(c);
    return h;
}

template <class F>
void rethrow_as_format(const safetensors_view& f, const std::string& matrix, F&& fn) {
    try {
        fn();
    } catch (const format_error& e) {
        NNPRUNE_THROW(format_error, str("read_sparse: ", f.file(), ": matrix '", matrix, "': ", e.what()));
    }
}

}  // namespace detail

template <class T, class Index>
void add_csr(safetensors_writer& w, const std::string& name, const csr_matrix<T, Index>& a) {
    validate(a);
    detail::add_vec(w, name + ".values", {a.values.size()}, a.values);
    detail::add_vec(w, name + ".col_indices", {a.col_indices.size()}, a.col_indices);
    detail::add_vec(w, name + ".row_ptr", {a.row_ptr.size()}, a.row_ptr);
    w.set_metadata("nnprune.sparse." + name, detail::str("csr ", a.rows, "x", a.cols));
}

template <class T>
void add_nm(safetensors_writer& w, const std::string& name, const nm_compressed<T>& a) {
    validate(a);
    detail::add_vec(w, name + ".values", {a.rows, a.slots_per_row()}, a.values);
    detail::add_vec(w, name + ".metadata", {a.rows, a.bytes_per_row()}, a.metadata);
    w.set_metadata("nnprune.sparse." + name, detail::str("nm ", a.n, ":", a.m, " ", a.rows, "x", a.cols));
}

template <class T>
void add_bitmask(safetensors_writer& w, const std::string& name, const bitmask_values<T>& a) {
    validate(a);
    detail::add_vec(w, name + ".values", {a.values.size()}, a.values);
    detail::add_vec(w, name + ".bitmask", {a.bits.size()}, a.bits);
    w.set_metadata("nnprune.sparse." + name, detail::str("bitmask ", a.rows, "x", a.cols));
}

/// @throws format_error naming the file and the matrix.
template <class T, class Index = std::int32_t>
[[nodiscard]] csr_matrix<T, Index> read_csr(const safetensors_view& f, const std::string& name) {
    const auto h = detail::read_sparse_header(f, name, "csr");
    csr_matrix<T, Index> a{h.rows, h.cols, {}, {}, {}};
    a.row_ptr = detail::read_part<std::int64_t>(f, name, "row_ptr", {h.rows + 1});
    const std::uint64_t nnz = f.contains(name + ".values") ? f.tensor(name + ".values").numel() : 0;
    a.values = detail::read_part<T>(f, name, "values", {nnz});
    a.col_indices = detail::read_part<Index>(f, name, "col_indices", {nnz});
    detail::rethrow_as_format(f, name, [&] { validate(a); });
    return a;
}

template <class T>
[[nodiscard]] nm_compressed<T> read_nm(const safetensors_view& f, const std::string& name) {
    const auto h = detail::read_sparse_header(f, name, "nm");
    nm_compressed<T> a{h.rows, h.cols, h.n, h.m, {}, {}};
    detail::rethrow_as_format(f, name, [&] {
        if (!(a.n >= 1 && a.n <= a.m && a.m >= 2) || a.cols % a.m)
            NNPRUNE_THROW(format_error, detail::str(a.n, ":", a.m, " does not fit ", a.cols, " columns"));
    });
    a.values = detail::read_part<T>(f, name, "values", {a.rows, a.slots_per_row()});
    a.metadata = detail::read_part<std::uint8_t>(f, name, "metadata", {a.rows, a.bytes_per_row()});
    detail::rethrow_as_format(f, name, [&] { validate(a); });
    return a;
}

template <class T>
[[nodiscard]] bitmask_values<T> read_bitmask(const safetensors_view& f, const std::string& name) {
    const auto h = detail::read_sparse_header(f, name, "bitmask");
    bitmask_values<T> a{h.rows, h.cols, {}, {}};
    a.bits = detail::read_part<std::uint8_t>(f, name, "bitmask", {(h.rows * h.cols + 7) / 8});
    const std::uint64_t nnz = f.contains(name + ".values") ? f.tensor(name + ".values").numel() : 0;
    a.values = detail::read_part<T>(f, name, "values", {nnz});
    detail::rethrow_as_format(f, name, [&] { validate(a); });
    return a;
}

}  // namespace nnprune

#endif  // NNPRUNE_IO_SPARSE_EXPORT_HPP
