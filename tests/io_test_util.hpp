// Helpers shared by the io tests: a scratch directory and byte-by-byte safetensors files.
#ifndef NNPRUNE_TESTS_IO_TEST_UTIL_HPP
#define NNPRUNE_TESTS_IO_TEST_UTIL_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

// Every io header before the test files' `using io_test::bytes;` (unity builds put several test
// files in one translation unit; a later io header would see that name at global scope).
#include <nnprune/io.hpp>

namespace io_test {

/// A fresh directory under the system temp dir, removed with everything in it at scope exit.
struct scratch_dir {
    std::filesystem::path path;

    scratch_dir() {
        // unique per process (ctest runs test cases in parallel processes) and per directory
        static std::mt19937_64 rng(20240611);
        path = std::filesystem::temp_directory_path() /
               ("nnprune_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(rng()));
        std::filesystem::create_directories(path);
    }

    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }

    std::filesystem::path operator/(const std::string& name) const { return path / name; }

    [[nodiscard]] std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
        return out;
    }
};

using bytes = std::vector<std::byte>;

inline void append_u64le(bytes& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
}

inline void append_text(bytes& out, const std::string& s) {
    for (char c : s) out.push_back(static_cast<std::byte>(static_cast<unsigned char>(c)));
}

template <class T>
void append_le(bytes& out, T v) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // the host is little-endian (asserted by the io headers)
    for (unsigned char c : b) out.push_back(static_cast<std::byte>(c));
}

/// [u64 LE header length][header][data], exactly as the format spec says (no padding added).
inline bytes make_file(const std::string& header, const bytes& data) {
    bytes out;
    append_u64le(out, header.size());
    append_text(out, header);
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

inline void write_file(const std::filesystem::path& p, const bytes& b) {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline bytes read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    bytes out(c.size());
    std::memcpy(out.data(), c.data(), c.size());
    return out;
}

}  // namespace io_test

#endif
