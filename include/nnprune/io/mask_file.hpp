#ifndef NNPRUNE_IO_MASK_FILE_HPP
#define NNPRUNE_IO_MASK_FILE_HPP

/// @file mask_file.hpp
/// Mask files: all the masks of a model in one portable safetensors file, independent of any
/// framework checkpoint. Each mask is stored under its weight's name. Two formats:
///  - mask_file_format::bytes ("nnprune.mask_format": "bool-v1"): one BOOL tensor per mask, shaped
///    like the weight, one byte per element (1 = kept, 0 = pruned). Loads in PyTorch as a bool
///    tensor; load_masks() also accepts any file whose tensors are all BOOL (no format key).
///  - mask_file_format::bitpacked ("nnprune.mask_format": "bitpacked-v1", the default): one U8
///    tensor of shape [ceil(n / 8)] per mask, holding nnprune's mask words as little-endian bytes:
///    the element with row-major flat index i is bit (i % 8) of byte (i / 8), least significant
///    bit first; bits past the last element are zero. The logical shape is in __metadata__ as
///    "nnprune.mask.<name>": "4096x11008" (extents joined by 'x', rank 1..4).
///    In NumPy: np.unpackbits(bytes, bitorder="little")[:n].reshape(shape).
/// load_masks() validates everything (format, dtypes, ranks, shape text, byte counts against the
/// shape, BOOL bytes 0/1, zero tail bits, metadata and tensors matching one to one) and answers a
/// bad file with a format_error naming the file and the mask.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/shape.hpp"
#include "../masks/mask.hpp"
#include "safetensors_reader.hpp"
#include "safetensors_writer.hpp"

namespace nnprune {

enum class mask_file_format : std::uint8_t { bytes, bitpacked };

inline constexpr std::string_view mask_format_key = "nnprune.mask_format";
inline constexpr std::string_view mask_shape_prefix = "nnprune.mask.";

namespace detail {

/// Parses "4096x11008" strictly (decimal extents, rank 1..4, no overflow); nullopt otherwise.
[[nodiscard]] inline std::optional<nnprune::shape> parse_shape_text(std::string_view s) {
    std::size_t ext[max_rank]{};
    std::size_t rank = 0, pos = 0;
    while (true) {
        if (rank == max_rank) return std::nullopt;
        const std::size_t end = std::min(s.find('x', pos), s.size());
        if (end == pos || end - pos > 19) return std::nullopt;  // empty or > 19 digits
        std::uint64_t v = 0;
        for (std::size_t i = pos; i < end; ++i) {
            if (s[i] < '0' || s[i] > '9') return std::nullopt;
            v = v * 10 + static_cast<std::uint64_t>(s[i] - '0');
        }
        ext[rank++] = static_cast<std::size_t>(v);
        if (end == s.size()) break;
        pos = end + 1;
    }
    // the product of all extents must fit too (a zero does not excuse an overflow elsewhere)
    std::size_t all = 1;
    for (std::size_t r = 0; r < rank; ++r)
        if (ext[r] != 0 && __builtin_mul_overflow(all, ext[r], &all)) return std::nullopt;
    return nnprune::shape(ext, rank);
}

}  // namespace detail

namespace detail {

/// Adds the masks (tensors + format/shape metadata) to a writer, for save_masks() and files that
/// embed masks (pruner_state_file.hpp). `buffers` holds the packed bytes and must outlive
/// w.write(). @throws precondition_error on duplicate or reserved names (before any write).
inline void add_masks(safetensors_writer& w, std::span<const std::pair<std::string, const_mask_view>> masks,
                      mask_file_format format, std::vector<std::vector<std::uint8_t>>& buffers) {
    buffers.assign(masks.size(), {});
    w.set_metadata(std::string(mask_format_key), format == mask_file_format::bitpacked ? "bitpacked-v1" : "bool-v1");
    for (std::size_t k = 0; k < masks.size(); ++k) {
        const auto& [name, m] = masks[k];
        auto& buf = buffers[k];
        const std::size_t n = m.size();
        if (format == mask_file_format::bitpacked) {
            buf.resize(n / 8 + (n % 8 != 0));
            if (!buf.empty())
                std::memcpy(buf.data(), m.words().data(), buf.size());  // little-endian words = the byte layout
            if (n % 8) buf.back() &= static_cast<std::uint8_t>((1u << (n % 8)) - 1u);
            w.add_span<std::uint8_t>(name, safetensors_dtype::U8, {buf.size()}, buf);
            w.set_metadata(std::string(mask_shape_prefix) + name, m.shape().to_string());
        } else {
            buf.resize(n);
            m.to_bytes(std::span<std::uint8_t>(buf));
            const auto& s = m.shape();
            w.add_span<std::uint8_t>(name, safetensors_dtype::BOOL,
                                     std::vector<std::uint64_t>(s.data(), s.data() + s.rank()), buf);
        }
    }
}

}  // namespace detail

/**
 * @brief Writes masks to one file, atomically (see atomic_file).
 * @throws precondition_error on duplicate or reserved names (before anything is written), io_error.
 * @code
 * std::map<std::string, nnprune::mask> masks = ...;
 * nnprune::save_masks("masks.safetensors", masks);            // bit-packed
 * @endcode
 */
inline void save_masks(const std::filesystem::path& path,
                       std::span<const std::pair<std::string, const_mask_view>> masks,
                       mask_file_format format = mask_file_format::bitpacked) {
    safetensors_writer w;
    std::vector<std::vector<std::uint8_t>> buffers;  // alive until write()
    detail::add_masks(w, masks, format, buffers);
    w.write(path);
}

/// save_masks() into an open atomic file, not committed (the caller commits it with other files).
inline void save_masks(atomic_file& f, std::span<const std::pair<std::string, const_mask_view>> masks,
                       mask_file_format format = mask_file_format::bitpacked) {
    safetensors_writer w;
    std::vector<std::vector<std::uint8_t>> buffers;  // alive until write_to()
    detail::add_masks(w, masks, format, buffers);
    w.write_to(f);
}

/// save_masks() for a name -> mask map.
inline void save_masks(const std::filesystem::path& path, const std::map<std::string, mask>& masks,
                       mask_file_format format = mask_file_format::bitpacked) {
    std::vector<std::pair<std::string, const_mask_view>> v;
    for (const auto& [name, m] : masks) v.emplace_back(name, m.view());
    save_masks(path, v, format);
}

/// Reads the masks of a validated safetensors file. @throws format_error.
[[nodiscard]] inline std::map<std::string, mask> load_masks(const safetensors_view& f) {
    const auto fail = [&](const std::string& what) {
        NNPRUNE_THROW(format_error, detail::str("load_masks: ", f.file(), ": ", what));
    };
    const auto& md = f.metadata();
    const auto fmt = md.find(std::string(mask_format_key));
    bool bitpacked = false;
    if (fmt == md.end()) {
        for (std::size_t i = 0; i < f.size(); ++i)
            if (f.at(i).dtype() != safetensors_dtype::BOOL)
                fail(detail::str("no \"", mask_format_key, "\" in __metadata__ and tensor '", f.at(i).name(), "' is ",
                                 name_of(f.at(i).dtype()), ", not BOOL: not a mask file"));
    } else if (fmt->second == "bitpacked-v1") {
        bitpacked = true;
    } else if (fmt->second != "bool-v1") {
        fail(detail::str("unknown mask format '", fmt->second, "' (known: bitpacked-v1, bool-v1)"));
    }

    std::map<std::string, mask> out;
    for (std::size_t i = 0; i < f.size(); ++i) {
        const safetensors_tensor t = f.at(i);
        const auto bad = [&](const std::string& what) { fail(detail::str("mask '", t.name(), "': ", what)); };
        if (!bitpacked) {
            if (t.dtype() != safetensors_dtype::BOOL) bad(detail::str("is ", name_of(t.dtype()), ", expected BOOL"));
            if (t.rank() < 1 || t.rank() > max_rank)
                bad(detail::str("has rank ", t.rank(), ", expected 1..", max_rank));
            for (std::size_t b = 0; b < t.bytes().size(); ++b)
                if (static_cast<unsigned>(t.bytes()[b]) > 1)
                    bad(detail::str("BOOL element ", b, " is ", static_cast<unsigned>(t.bytes()[b]), ", not 0 or 1"));
            out.emplace(t.name(), mask::from_bytes(t.bytes(), t.nn_shape()));
            continue;
        }
        if (t.dtype() != safetensors_dtype::U8)
            bad(detail::str("is ", name_of(t.dtype()), ", expected U8 (bitpacked-v1)"));
        if (t.rank() != 1) bad(detail::str("has rank ", t.rank(), ", expected 1 (bitpacked-v1)"));
        const auto sh = md.find(std::string(mask_shape_prefix) + t.name());
        if (sh == md.end()) bad(detail::str("no \"", mask_shape_prefix, t.name(), "\" shape in __metadata__"));
        const auto s = detail::parse_shape_text(sh->second);
        if (!s) bad(detail::str("shape '", sh->second, "' is not extents joined by 'x' (rank 1..4, no overflow)"));
        const std::size_t n = s->numel(), nbytes = n / 8 + (n % 8 != 0);
        if (t.bytes().size() != nbytes)
            bad(detail::str("has ", t.bytes().size(), " bytes, shape ", *s, " (", n, " bits) needs ", nbytes));
        if (n % 8 && (static_cast<unsigned>(t.bytes()[nbytes - 1]) >> (n % 8)) != 0)
            bad(detail::str("bits past the last of ", n, " elements are not zero"));
        mask m(*s, false);
        if (nbytes) std::memcpy(m.words().data(), t.bytes().data(), nbytes);
        out.emplace(t.name(), std::move(m));
    }
    if (bitpacked)
        for (const auto& kv : md)
            if (const std::string& key = kv.first; key.size() > mask_shape_prefix.size() &&
                                                   key.compare(0, mask_shape_prefix.size(), mask_shape_prefix) == 0 &&
                                                   !f.contains(std::string_view(key).substr(mask_shape_prefix.size())))
                fail(detail::str("__metadata__ has \"", key, "\" but there is no mask tensor '",
                                 key.substr(mask_shape_prefix.size()), "'"));
    return out;
}

/// Reads a mask file written by save_masks() (either format). @throws format_error, io_error.
[[nodiscard]] inline std::map<std::string, mask> load_masks(const std::filesystem::path& path) {
    const safetensors_file f(path);
    return load_masks(f.view());
}

}  // namespace nnprune

#endif  // NNPRUNE_IO_MASK_FILE_HPP
