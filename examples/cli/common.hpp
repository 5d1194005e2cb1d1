#ifndef NNPRUNE_EXAMPLES_CLI_COMMON_HPP
#define NNPRUNE_EXAMPLES_CLI_COMMON_HPP

/// @file common.hpp
/// Shared pieces of the nnprune command-line tool: exit codes, the usage error, releasing mapped
/// pages, opening a model path and a streaming safetensors writer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include <nnprune/io/atomic_file.hpp>
#include <nnprune/io/safetensors_model.hpp>
#include <nnprune/io/safetensors_reader.hpp>
#include <nnprune/io/safetensors_writer.hpp>

namespace nnprune_cli {

/// Exit codes a script can rely on.
enum exit_code : int {
    exit_ok = 0,
    exit_usage = 1,   ///< bad command line (CLI11 parse errors, conflicting options)
    exit_format = 2,  ///< a bad input file (nnprune::format_error, missing calibration statistic)
    exit_io = 3,      ///< the operating system refused a file operation (nnprune::io_error)
    exit_other = 4,   ///< any other nnprune error (value_error, precondition_error, ...)
};

/// A command-line problem found after parsing (exit code 1).
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A problem with the contents of an input file found by the tool (exit code 2).
class input_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Drops the pages of a read-only file mapping from this process (they stay in the page cache;
/// touching them again faults them back in). Rounds outwards to whole pages, which is harmless
/// for neighbouring data of the same mapping.
inline void release_pages(std::span<const std::byte> bytes) noexcept {
    if (bytes.empty()) return;
    static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(bytes.data()) & ~(page - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(bytes.data()) + bytes.size() + page - 1) & ~(page - 1);
    (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

/// A model path: a .safetensors file, an index .json, or a directory holding either
/// model.safetensors.index.json or exactly one *.safetensors file.
struct model_path {
    std::filesystem::path path;  ///< what safetensors_model opens
    bool sharded = false;        ///< an index
};

inline model_path resolve_model_path(const std::filesystem::path& p) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
        if (fs::exists(p / "model.safetensors.index.json")) return {p / "model.safetensors.index.json", true};
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(p, ec))
            if (e.path().extension() == ".safetensors") files.push_back(e.path());
        if (files.size() == 1) return {files[0], false};
        throw input_error(nnprune::detail::str("directory ", p.string(), " has no model.safetensors.index.json and ",
                                               files.size(), " .safetensors files (need exactly one)"));
    }
    const std::string s = p.string();
    return {p, s.size() >= 5 && s.compare(s.size() - 5, 5, ".json") == 0};
}

/// One tensor of a streamed output file.
struct stream_entry {
    std::string name;
    nnprune::safetensors_dtype dtype;
    std::vector<std::uint64_t> shape;
    /// Any readable memory of exactly the tensor's byte size: only its size is used (for the header).
    std::span<const std::byte> size_witness;
};

/// Counts what a producer writes so the layout can be checked.
class byte_sink {
public:
    explicit byte_sink(nnprune::atomic_file& f) : m_file(f) {}

    void write(std::span<const std::byte> b) {
        m_file.write(b);
        m_written += b.size();
    }

    [[nodiscard]] std::uint64_t written() const noexcept { return m_written; }

private:
    nnprune::atomic_file& m_file;
    std::uint64_t m_written = 0;
};

/// A streamed safetensors file's header bytes (layout, __metadata__, from
/// nnprune::safetensors_writer) and its entries in data order, with their data offsets.
struct stream_layout {
    std::vector<std::byte> header;
    std::vector<std::pair<std::uint64_t, std::size_t>> order;  ///< (data offset, entry index)
};

inline stream_layout layout_of(const std::vector<stream_entry>& entries,
                               const std::map<std::string, std::string>& metadata) {
    nnprune::safetensors_writer w;
    for (const auto& e : entries) w.add_raw(e.name, e.dtype, e.shape, e.size_witness);
    for (const auto& [k, v] : metadata) w.set_metadata(k, v);
    // entry i was added i-th: the writer's layout indexes the entries
    stream_layout out{w.header_bytes(), w.data_layout()};
    return out;
}

/**
 * Writes a safetensors file tensor by tensor, atomically: the header from layout_of, then
 * produce(i, sink) writes entry i's bytes, in the file's data order, so only one tensor's data
 * needs to exist at a time.
 */
inline void write_streamed(const std::filesystem::path& path, const std::vector<stream_entry>& entries,
                           const std::map<std::string, std::string>& metadata,
                           const std::function<void(std::size_t, byte_sink&)>& produce) {
    const stream_layout lay = layout_of(entries, metadata);
    nnprune::atomic_file f(path);
    f.write(lay.header);
    byte_sink sink(f);
    for (const auto& [begin, i] : lay.order) {
        NNPRUNE_CHECK(sink.written() == begin, nnprune::internal_error,
                      nnprune::detail::str("write_streamed: tensor '", entries[i].name, "' starts at ", sink.written(),
                                           ", header says ", begin));
        produce(i, sink);
    }
    f.commit();
}

/// Copies bytes from a mapping to the sink in slices, releasing each slice's pages once written.
inline void copy_released(std::span<const std::byte> src, byte_sink& sink) {
    constexpr std::size_t slice = std::size_t{8} << 20;
    for (std::size_t off = 0; off < src.size(); off += slice) {
        const auto part = src.subspan(off, std::min(slice, src.size() - off));
        sink.write(part);
        release_pages(part);
    }
}

/// "4096x11008" for any rank ("" for a scalar).
inline std::string shape_text(const std::vector<std::uint64_t>& s) {
    std::string out;
    for (std::size_t r = 0; r < s.size(); ++r) {  // (appended piece by piece: GCC 12 -O3 misreads "x" + string&&)
        if (r) out += 'x';
        out += std::to_string(s[r]);
    }
    return out;
}

}  // namespace nnprune_cli

#endif  // NNPRUNE_EXAMPLES_CLI_COMMON_HPP
