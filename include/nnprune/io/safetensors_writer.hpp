#ifndef NNPRUNE_IO_SAFETENSORS_WRITER_HPP
#define NNPRUNE_IO_SAFETENSORS_WRITER_HPP

/// @file safetensors_writer.hpp
/// safetensors_writer: collects tensors (by reference: their memory must stay alive until write())
/// and __metadata__, then writes one safetensors file atomically (atomic_file: temporary file in
/// the same directory, fsync, rename; a failure leaves no output and an existing file untouched).
/// Layout, deterministic like the reference writer's: the header JSON holds "__metadata__" first
/// (when non-empty), then the tensors in data order; it is padded with spaces so the data section
/// starts at a multiple of 8; tensors are stored by element size descending, then by name, so
/// every tensor is aligned to its element size (8-byte types first, bytes last) with no holes.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "atomic_file.hpp"
#include "safetensors_header.hpp"

namespace nnprune {

namespace detail {
/// Appends s as a JSON string literal, escaped as nlohmann::json::dump() does (UTF-8 kept,
/// control characters as \b \t \n \f \r or \u00xx).
inline void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
}
}  // namespace detail

class safetensors_writer {
public:
    /// Adds a float tensor (any strides; written in row-major flat order, in its own dtype).
    /// @throws precondition_error on a duplicate or invalid name.
    void add(std::string name, const tensor_ref& t) {
        check_name(name, "add");
        std::vector<std::uint64_t> shape(t.shape().data(), t.shape().data() + t.rank());
        remember(name);
        m_items.push_back({std::move(name), safetensors_dtype_of(t.dtype()), std::move(shape), {}, t, true});
    }

    /// Adds a tensor of any dtype from its raw little-endian bytes (not copied).
    /// @throws precondition_error on a duplicate or invalid name, or when bytes.size() is not
    /// the product of `shape` times the dtype size.
    void add_raw(std::string name, safetensors_dtype dt, std::vector<std::uint64_t> shape,
                 std::span<const std::byte> bytes) {
        check_name(name, "add_raw");
        std::uint64_t n = 1, nbytes = 0;
        bool overflow = false;
        for (auto e : shape) overflow = detail::mul_overflows(n, e, n) || overflow;
        overflow = detail::mul_overflows(n, size_of(dt), nbytes) || overflow;
        NNPRUNE_CHECK(
            !overflow && nbytes == bytes.size(), precondition_error,
            detail::str("safetensors_writer::add_raw: tensor '", name, "' has ", bytes.size(), " bytes, its shape x ",
                        name_of(dt), " needs ", overflow ? std::string("more than 2^64") : std::to_string(nbytes)));
        remember(name);
        m_items.push_back({std::move(name), dt, std::move(shape), bytes, {}, false});
    }

    /// Adds a typed span (integers, bool, floats) as a tensor of `shape`.
    template <class T>
    void add_span(std::string name, safetensors_dtype dt, std::vector<std::uint64_t> shape, std::span<const T> values) {
        NNPRUNE_CHECK(sizeof(T) == size_of(dt), precondition_error,
                      detail::str("safetensors_writer::add_span: tensor '", name, "': ", sizeof(T),
                                  "-byte elements given for ", name_of(dt)));
        add_raw(std::move(name), dt, std::move(shape), std::as_bytes(values));
    }

    /// Sets a __metadata__ entry (string -> string).
    void set_metadata(std::string key, std::string value) {
        check_utf8(key, "set_metadata");
        check_utf8(value, "set_metadata");
        m_metadata[std::move(key)] = std::move(value);
    }

    [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return m_metadata; }

    [[nodiscard]] std::size_t size() const noexcept { return m_items.size(); }

    /// The header bytes (8-byte length + padded JSON) the file will start with.
    [[nodiscard]] std::vector<std::byte> header_bytes() const {
        // the JSON object written member by member (names are unique: add_raw checks), in linear
        // time; an ordered_json object would search its members on every insertion. Metadata
        // strings are escaped straight into the text: a long value is not copied on the way.
        std::string text = "{";
        auto member = [&text](const std::string& key, const nlohmann::ordered_json& value) {
            if (text.size() > 1) text += ',';
            detail::append_json_string(text, key);
            text += ':';
            text += value.dump();
        };
        if (!m_metadata.empty()) {
            text += "\"__metadata__\":{";
            for (const auto& [k, v] : m_metadata) {
                if (text.back() != '{') text += ',';
                detail::append_json_string(text, k);
                text += ':';
                detail::append_json_string(text, v);
            }
            text += '}';
        }
        for (const auto& [off, i] : data_layout()) {
            const item& it = m_items[i];
            member(it.name, {{"dtype", std::string(name_of(it.dtype))},
                             {"shape", it.shape},
                             {"data_offsets", {off, off + bytes_of(it)}}});
        }
        text += '}';
        text.append((8 - text.size() % 8) % 8, ' ');
        // a file nnprune (and the reference reader) would refuse to read is never written
        NNPRUNE_CHECK(text.size() <= safetensors_max_header, format_error,
                      detail::str("safetensors_writer: the header would take ", text.size(),
                                  " bytes, over the limit of ", safetensors_max_header, " that readers enforce"));
        std::vector<std::byte> out(8 + text.size());
        const auto n = static_cast<std::uint64_t>(text.size());
        for (std::size_t b = 0; b < 8; ++b) out[b] = static_cast<std::byte>((n >> (8 * b)) & 0xFF);
        std::copy_n(reinterpret_cast<const std::byte*>(text.data()), text.size(), out.begin() + 8);
        return out;
    }

    /// Where each tensor's data goes: (offset in the data section, index in the order added),
    /// in data order.
    [[nodiscard]] std::vector<std::pair<std::uint64_t, std::size_t>> data_layout() const {
        std::vector<std::pair<std::uint64_t, std::size_t>> out;
        std::uint64_t off = 0;
        for (const std::size_t i : data_order()) {
            out.emplace_back(off, i);
            off += bytes_of(m_items[i]);
        }
        return out;
    }

    /// Writes the file atomically. @throws io_error (no output is left behind, an existing file is untouched).
    void write(const std::filesystem::path& path) const {
        const std::vector<std::byte> header = header_bytes();
        atomic_file f(path);
        write_to(f, header);
        f.commit();
    }

    /// Writes the whole file into `f` without committing it: the caller commits it together with
    /// other files, so a failure before the first commit leaves all of them as they were.
    void write_to(atomic_file& f) const { write_to(f, header_bytes()); }

private:
    void write_to(atomic_file& f, const std::vector<std::byte>& header) const {
        f.write(header);
        for (const std::size_t i : data_order()) {
            const item& it = m_items[i];
            if (!it.is_ref) {
                f.write(it.bytes);
                continue;
            }
            visit(it.ref, [&](auto v) {
                using T = std::remove_const_t<typename decltype(v)::element_type>;
                if (v.is_contiguous()) {
                    f.write(std::as_bytes(std::span<const T>(v.data_handle(), v.size())));
                    return;
                }
                std::vector<T> buf;
                buf.reserve(std::min<std::size_t>(v.size(), 1 << 14));
                for_each_indexed(v, [&](std::size_t, const T& x) {
                    buf.push_back(x);
                    if (buf.size() == buf.capacity()) {
                        f.write(std::as_bytes(std::span<const T>(buf)));
                        buf.clear();
                    }
                });
                f.write(std::as_bytes(std::span<const T>(buf)));
            });
        }
    }

    struct item {
        std::string name;
        safetensors_dtype dtype;
        std::vector<std::uint64_t> shape;
        std::span<const std::byte> bytes;
        tensor_ref ref;
        bool is_ref;
    };

    static std::uint64_t bytes_of(const item& it) {
        if (!it.is_ref) return it.bytes.size();
        return static_cast<std::uint64_t>(it.ref.size()) * size_of(it.dtype);
    }

    [[nodiscard]] std::vector<std::size_t> data_order() const {
        std::vector<std::size_t> order(m_items.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            const std::size_t sa = size_of(m_items[a].dtype), sb = size_of(m_items[b].dtype);
            return sa != sb ? sa > sb : m_items[a].name < m_items[b].name;
        });
        return order;
    }

    static void check_utf8(const std::string& s, const char* fn) {
        try {
            (void)nlohmann::json(s).dump();
        } catch (const nlohmann::json::exception&) {
            NNPRUNE_THROW(precondition_error,
                          detail::str("safetensors_writer::", fn, ": '", s, "' is not valid UTF-8"));
        }
    }

    void check_name(const std::string& name, const char* fn) const {
        NNPRUNE_CHECK(name != "__metadata__", precondition_error,
                      detail::str("safetensors_writer::", fn, ": '__metadata__' is reserved, not a tensor name"));
        check_utf8(name, fn);
        NNPRUNE_CHECK(!m_names.contains(name), precondition_error,
                      detail::str("safetensors_writer::", fn, ": duplicate tensor name '", name, "'"));
    }

    void remember(const std::string& name) { m_names.insert(name); }

    std::vector<item> m_items;
    std::set<std::string> m_names;
    std::map<std::string, std::string> m_metadata;
};

}  // namespace nnprune

#endif  // NNPRUNE_IO_SAFETENSORS_WRITER_HPP
