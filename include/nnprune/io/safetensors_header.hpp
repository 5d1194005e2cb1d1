#ifndef NNPRUNE_IO_SAFETENSORS_HEADER_HPP
#define NNPRUNE_IO_SAFETENSORS_HEADER_HPP

/// @file safetensors_header.hpp
/// The safetensors container (https://github.com/huggingface/safetensors), validated:
///   bytes 0..8    N, the JSON header length, unsigned 64-bit little-endian
///   bytes 8..8+N  a JSON object: "__metadata__" (optional, string -> string) and, per tensor,
///                 "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
///   the rest      the data section; offsets are relative to its start.
/// parse_safetensors_header() is the parser of untrusted files (it is fuzzed): it checks the
/// header length against the file, that the JSON is well formed and has no duplicate keys, every
/// entry's types, dtype, shape (no overflow of elements x dtype size), offsets (begin <= end <=
/// data size, end - begin = bytes of the tensor) and that the tensors cover the data section
/// exactly, without overlap or holes. Every failure is a format_error naming the file, the tensor
/// and the problem. Needs nlohmann-json (not part of the umbrella header).

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"

namespace nnprune {

static_assert(std::endian::native == std::endian::little, "nnprune io: safetensors data is little-endian");

/// Element types of a safetensors file (the names in the file are the enumerator names).
enum class safetensors_dtype : std::uint8_t {
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    I64,
    U64,
    F64
};

/// Bytes per element.
[[nodiscard]] constexpr std::size_t size_of(safetensors_dtype t) noexcept {
    switch (t) {
        case safetensors_dtype::BOOL:
        case safetensors_dtype::U8:
        case safetensors_dtype::I8:
        case safetensors_dtype::F8_E5M2:
        case safetensors_dtype::F8_E4M3:
            return 1;
        case safetensors_dtype::I16:
        case safetensors_dtype::U16:
        case safetensors_dtype::F16:
        case safetensors_dtype::BF16:
            return 2;
        case safetensors_dtype::I32:
        case safetensors_dtype::U32:
        case safetensors_dtype::F32:
            return 4;
        case safetensors_dtype::I64:
        case safetensors_dtype::U64:
        case safetensors_dtype::F64:
            return 8;
    }
    return 1;
}

namespace detail {
inline constexpr std::string_view safetensors_dtype_names[] = {
    "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "I64", "U64", "F64"};
}  // namespace detail

/// The name used in files ("F32", "BF16", "BOOL", ...).
[[nodiscard]] constexpr std::string_view name_of(safetensors_dtype t) noexcept {
    return detail::safetensors_dtype_names[static_cast<std::size_t>(t)];
}

/// The dtype with that file name, if any (names are case-sensitive, as in the format).
[[nodiscard]] constexpr std::optional<safetensors_dtype> parse_safetensors_dtype(std::string_view s) noexcept {
    for (std::size_t i = 0; i < std::size(detail::safetensors_dtype_names); ++i)
        if (detail::safetensors_dtype_names[i] == s) return static_cast<safetensors_dtype>(i);
    return std::nullopt;
}

/// The nnprune element type of a floating-point file dtype (F32, F64, BF16, F16), if any.
[[nodiscard]] constexpr std::optional<dtype> element_dtype(safetensors_dtype t) noexcept {
    switch (t) {
        case safetensors_dtype::F32:
            return dtype::f32;
        case safetensors_dtype::F64:
            return dtype::f64;
        case safetensors_dtype::BF16:
            return dtype::bf16;
        case safetensors_dtype::F16:
            return dtype::f16;
        default:
            return std::nullopt;
    }
}

/// The file dtype of an nnprune element type.
[[nodiscard]] constexpr safetensors_dtype safetensors_dtype_of(dtype t) noexcept {
    switch (t) {
        case dtype::f64:
            return safetensors_dtype::F64;
        case dtype::bf16:
            return safetensors_dtype::BF16;
        case dtype::f16:
            return safetensors_dtype::F16;
        case dtype::f32:
            break;
    }
    return safetensors_dtype::F32;
}

/// One tensor entry of a validated header. Offsets are relative to the data section.
struct safetensors_entry {
    std::string name;
    safetensors_dtype dtype = safetensors_dtype::F32;
    std::vector<std::uint64_t> shape;  ///< any rank (0 = scalar, one element)
    std::uint64_t numel = 1;
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
};

/// A validated header: entries in data order (ascending offsets, then name).
struct safetensors_header {
    std::vector<safetensors_entry> tensors;
    std::map<std::string, std::string> metadata;
    std::uint64_t data_start = 0;  ///< file offset of the data section: 8 + N
    std::uint64_t data_size = 0;
};

/// Largest accepted JSON header (the reference implementation uses the same bound).
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;

namespace detail {

[[noreturn]] inline void throw_format(std::string_view file, const std::string& what) {
    NNPRUNE_THROW(format_error, str("safetensors: ", file, ": ", what));
}

/// Nesting allowed in a header or index: far more than either format uses (3 and 2 levels), and
/// small enough that a deeply nested header is refused before it costs memory.
inline constexpr std::size_t json_max_depth = 64;

/// The checking pass of parse_json_strict: SAX events only (no document is built), stopping at
/// the first syntax error, duplicate key or nesting past json_max_depth.
struct strict_json_check {
    using json = nlohmann::json;
    std::vector<std::set<std::string, std::less<>>> keys;  // keys seen in each open container
    std::optional<std::string> duplicate, syntax;
    bool too_deep = false;

    bool open() {
        if (keys.size() >= json_max_depth) {
            too_deep = true;
            return false;
        }
        keys.emplace_back();
        return true;
    }

    bool close() {
        keys.pop_back();
        return true;
    }

    bool start_object(std::size_t) { return open(); }

    bool end_object() { return close(); }

    bool start_array(std::size_t) { return open(); }

    bool end_array() { return close(); }

    bool key(json::string_t& k) {
        if (keys.back().insert(k).second) return true;
        duplicate = k;
        return false;
    }

    bool null() { return true; }

    bool boolean(bool) { return true; }

    bool number_integer(json::number_integer_t) { return true; }

    bool number_unsigned(json::number_unsigned_t) { return true; }

    bool number_float(json::number_float_t, const json::string_t&) { return true; }

    bool string(json::string_t&) { return true; }

    bool binary(json::binary_t&) { return true; }

    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
        syntax = e.what();
        return false;
    }
};

/// Parses JSON text; rejects malformed text, duplicate keys in any object and nesting deeper than
/// json_max_depth. Linear in the text: a checking SAX pass, then the document (nlohmann's
/// callback parser, which could check duplicates in one pass, rescans an object's members after
/// each nested object ends: quadratic in the tensor count).
/// @throws format_error "<context>: <file>: ..." naming the problem (nlohmann's message for syntax).
[[nodiscard]] inline nlohmann::json parse_json_strict(std::string_view text, std::string_view file,
                                                      std::string_view context) {
    using json = nlohmann::json;
    strict_json_check check;
    if (!json::sax_parse(text.begin(), text.end(), &check)) {
        if (check.duplicate)
            NNPRUNE_THROW(format_error, str(context, ": ", file, ": duplicate key '", *check.duplicate, "'"));
        if (check.too_deep)
            NNPRUNE_THROW(format_error,
                          str(context, ": ", file, ": JSON nested deeper than ", json_max_depth, " levels"));
        NNPRUNE_THROW(format_error, str(context, ": ", file, ": malformed JSON: ", check.syntax.value_or("")));
    }
    try {
        return json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {  // (the checking pass has seen every syntax error)
        NNPRUNE_THROW(format_error, str(context, ": ", file, ": malformed JSON: ", e.what()));
    }
}

/**
 * One pass over a JSON object that hands each member to `on_member(key, value)` and drops it:
 * a member's value is built as a small document while it is parsed, so memory holds one member
 * at a time (plus the lexer's current token), never the whole document. Nested objects are
 * checked for duplicate keys and nesting past json_max_depth as parse_json_strict does; the root
 * object's own keys are the caller's to check.
 */
template <class OnMember>
struct member_parser {
    using json = nlohmann::json;

    explicit member_parser(OnMember f) : on_member(f) {}

    OnMember on_member;
    std::size_t depth = 0;                                 ///< open containers, the root included
    std::string member;                                    ///< the root member being parsed
    json value;                                            ///< its value
    std::vector<json*> open;                               ///< the containers of `value` being filled
    std::vector<std::set<std::string, std::less<>>> keys;  ///< the keys of each of them (arrays: none)
    std::string pending;                                   ///< the key of the next value inside them
    std::optional<std::string> duplicate, syntax;
    bool too_deep = false;

    /// Puts v where the next value goes; a member's scalar value is complete at once.
    json* place(json&& v) {
        if (open.empty()) {
            value = std::move(v);
            return &value;
        }
        json& parent = *open.back();
        if (parent.is_object()) return &(parent[pending] = std::move(v));
        parent.push_back(std::move(v));
        return &parent.back();
    }

    bool scalar(json&& v) {
        place(std::move(v));
        if (open.empty()) finish();
        return true;
    }

    void finish() {
        on_member(member, value);
        value = json();
    }

    bool start(json&& container) {
        if (depth >= json_max_depth) {
            too_deep = true;
            return false;
        }
        if (depth++ == 0) return true;  // the root object itself
        open.push_back(place(std::move(container)));
        keys.emplace_back();
        return true;
    }

    bool end() {
        if (--depth == 0) return true;
        open.pop_back();
        keys.pop_back();
        if (open.empty()) finish();
        return true;
    }

    bool start_object(std::size_t) { return start(json::object()); }

    bool end_object() { return end(); }

    bool start_array(std::size_t) { return start(json::array()); }

    bool end_array() { return end(); }

    bool key(json::string_t& k) {
        if (depth == 1) {
            member = std::move(k);
            return true;
        }
        if (!keys.back().insert(k).second) {
            duplicate = k;
            return false;
        }
        pending = std::move(k);
        return true;
    }

    bool null() { return scalar(json(nullptr)); }

    bool boolean(bool b) { return scalar(json(b)); }

    bool number_integer(json::number_integer_t x) { return scalar(json(x)); }

    bool number_unsigned(json::number_unsigned_t x) { return scalar(json(x)); }

    bool number_float(json::number_float_t x, const json::string_t&) { return scalar(json(x)); }

    bool string(json::string_t& x) { return scalar(json(std::move(x))); }

    bool binary(json::binary_t& x) { return scalar(json::binary(std::move(x))); }

    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
        syntax = e.what();
        return false;
    }
};

[[nodiscard]] inline bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
    return __builtin_mul_overflow(a, b, &out);
}

inline safetensors_entry parse_entry(const std::string& name, const nlohmann::json& v, std::string_view file,
                                     std::uint64_t data_size) {
    const auto fail = [&](const std::string& what) { throw_format(file, str("tensor '", name, "': ", what)); };
    if (!v.is_object()) fail(str("entry is a JSON ", v.type_name(), ", expected an object"));
    safetensors_entry e;
    e.name = name;

    const auto dt = v.find("dtype");
    if (dt == v.end()) fail("missing \"dtype\"");
    if (!dt->is_string()) fail(str("\"dtype\" is a JSON ", dt->type_name(), ", expected a string"));
    const auto parsed = parse_safetensors_dtype(dt->get_ref<const std::string&>());
    if (!parsed) fail(str("unknown dtype '", dt->get_ref<const std::string&>(), "'"));
    e.dtype = *parsed;

    const auto sh = v.find("shape");
    if (sh == v.end()) fail("missing \"shape\"");
    if (!sh->is_array()) fail(str("\"shape\" is a JSON ", sh->type_name(), ", expected an array"));
    bool has_zero = false;
    for (std::size_t r = 0; r < sh->size(); ++r) {
        const auto& x = (*sh)[r];
        if (!x.is_number_unsigned()) fail(str("shape[", r, "] = ", x.dump(), " is not a non-negative integer"));
        const auto ext = x.get<std::uint64_t>();
        has_zero = has_zero || ext == 0;
        e.shape.push_back(ext);
    }
    e.numel = 1;
    if (has_zero)
        e.numel = 0;
    else
        for (auto ext : e.shape)
            if (mul_overflows(e.numel, ext, e.numel))
                fail(str("shape ", sh->dump(), ": element count overflows 64 bits"));
    std::uint64_t nbytes = 0;
    if (mul_overflows(e.numel, size_of(e.dtype), nbytes))
        fail(str("shape ", sh->dump(), " x ", size_of(e.dtype), " bytes overflows 64 bits"));

    const auto off = v.find("data_offsets");
    if (off == v.end()) fail("missing \"data_offsets\"");
    if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
        fail(str("\"data_offsets\" = ", off->dump(), " is not [begin, end] with non-negative integers"));
    e.begin = (*off)[0].get<std::uint64_t>();
    e.end = (*off)[1].get<std::uint64_t>();
    if (e.begin > e.end) fail(str("data_offsets [", e.begin, ", ", e.end, "]: begin > end"));
    if (e.end > data_size)
        fail(str("data_offsets [", e.begin, ", ", e.end, "] lie outside the data section of ", data_size, " bytes"));
    if (e.end - e.begin != nbytes)
        fail(str("data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin, " bytes, shape ", sh->dump(),
                 " x ", name_of(e.dtype), " needs ", nbytes));
    return e;
}

}  // namespace detail

/**
 * @brief Validates the header of a safetensors file held in `file_bytes` (all of it).
 * @param file the file's name, for messages.
 * @throws format_error naming the file, the tensor and the problem.
 * @code
 * auto h = nnprune::parse_safetensors_header(bytes, "model.safetensors");
 * for (const auto& t : h.tensors) std::cout << t.name << '\n';
 * @endcode
 */
[[nodiscard]] inline safetensors_header parse_safetensors_header(std::span<const std::byte> file_bytes,
                                                                 std::string_view file) {
    using detail::throw_format;
    if (file_bytes.size() < 8)
        throw_format(file, detail::str("file has ", file_bytes.size(), " bytes, fewer than the 8-byte header length"));
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(file_bytes[i]) << (8 * i);
    const std::uint64_t avail = file_bytes.size() - 8;
    if (n > safetensors_max_header)
        throw_format(file,
                     detail::str("header length ", n, " exceeds the limit of ", safetensors_max_header, " bytes"));
    if (n > avail)
        throw_format(file, detail::str("header length ", n, " exceeds the ", avail, " bytes after the length field"));
    if (n < 2) throw_format(file, detail::str("header length ", n, " is too small for a JSON object"));
    const char* text = reinterpret_cast<const char*>(file_bytes.data() + 8);
    if (text[0] != '{') throw_format(file, "header does not start with '{'");

    safetensors_header h;
    h.data_start = 8 + n;
    h.data_size = avail - n;
    bool has_metadata = false, metadata_twice = false;
    // one member at a time: memory grows with the entries, not with a document of the header
    auto on_member = [&](std::string& key, nlohmann::json& value) {
        if (key != "__metadata__") {
            h.tensors.push_back(detail::parse_entry(key, value, file, h.data_size));
            return;
        }
        metadata_twice = metadata_twice || has_metadata;
        has_metadata = true;
        if (!value.is_object())
            throw_format(file, detail::str("__metadata__ is a JSON ", value.type_name(), ", expected an object"));
        for (auto& [mk, mv] : value.items()) {
            if (!mv.is_string())
                throw_format(file,
                             detail::str("__metadata__['", mk, "'] is a JSON ", mv.type_name(), ", expected a string"));
            h.metadata.emplace(mk, std::move(mv.get_ref<std::string&>()));  // moved: a long value is held once
        }
    };
    detail::member_parser<decltype(on_member)&> parser(on_member);
    const std::string_view json_text(text, static_cast<std::size_t>(n));
    if (!nlohmann::json::sax_parse(json_text.begin(), json_text.end(), &parser)) {
        if (parser.duplicate) throw_format(file, detail::str("duplicate key '", *parser.duplicate, "'"));
        if (parser.too_deep)
            throw_format(file, detail::str("JSON nested deeper than ", detail::json_max_depth, " levels"));
        throw_format(file, detail::str("malformed JSON: ", parser.syntax.value_or("")));
    }
    if (metadata_twice) throw_format(file, "duplicate key '__metadata__'");
    {  // the root's keys: tensor names, unique
        std::vector<const std::string*> names;
        names.reserve(h.tensors.size());
        for (const auto& e : h.tensors) names.push_back(&e.name);
        std::sort(names.begin(), names.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
        for (std::size_t i = 1; i < names.size(); ++i)
            if (*names[i] == *names[i - 1]) throw_format(file, detail::str("duplicate key '", *names[i], "'"));
    }

    std::sort(h.tensors.begin(), h.tensors.end(), [](const safetensors_entry& a, const safetensors_entry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.name < b.name;
    });
    std::uint64_t cursor = 0;
    const safetensors_entry* prev = nullptr;
    for (const auto& e : h.tensors) {
        if (e.begin < cursor)
            throw_format(file, detail::str("tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end,
                                           "] overlap tensor '", prev->name, "' [", prev->begin, ", ", prev->end, "]"));
        if (e.begin > cursor)
            throw_format(file, detail::str("tensor '", e.name, "': hole of ", e.begin - cursor,
                                           " bytes before its data at ", e.begin));
        cursor = e.end;
        prev = &e;
    }
    if (cursor != h.data_size)
        throw_format(
            file, detail::str("data section has ", h.data_size - cursor, " trailing bytes not covered by any tensor (",
                              h.data_size, " bytes, tensors end at ", cursor, ")"));
    return h;
}

}  // namespace nnprune

#endif  // NNPRUNE_IO_SAFETENSORS_HEADER_HPP
