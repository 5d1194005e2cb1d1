#ifndef NNPRUNE_EXAMPLES_CLI_TENSOR_IO_HPP
#define NNPRUNE_EXAMPLES_CLI_TENSOR_IO_HPP

/// @file tensor_io.hpp
/// The tool's I/O layer: files read with pread into buffers that are reused from tensor to
/// tensor (a fresh page costs a page fault, ~10 us per 4 KiB on virtual machines: one per
/// tensor would cost more than the pruning), and the progress bar.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <span>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <nnprune/core/buffer.hpp>
#include <nnprune/core/errors.hpp>
#include <nnprune/detail/fault_injection.hpp>

namespace nnprune_cli {

/// A buffer that only grows (advised for huge pages); its pages are touched when it grows, so
/// later uses fault nothing.
template <class T>
class reused_buffer {
public:
    /// Makes room for n elements (contents unspecified).
    void reserve(std::size_t n) {
        if (n > m_data.size()) {
            m_data = {};
            nnprune::detail::grow_buffer(m_data, n);
        }
    }

    /// The first n elements (grown first when needed).
    [[nodiscard]] std::span<T> take(std::size_t n) {
        reserve(n);
        return {m_data.data(), n};
    }

    [[nodiscard]] std::size_t capacity() const noexcept { return m_data.size(); }

private:
    std::vector<T> m_data;
};

/// A file opened for pread (the kernel copies from the page cache straight into the caller's
/// buffer: no mapping, so no page faults, and a file truncated meanwhile is a read error, not a
/// SIGBUS).
class input_file {
public:
    explicit input_file(const std::filesystem::path& path) : m_path(path.string()) {
        // O_NONBLOCK: a FIFO put in the file's place is refused below instead of waiting for a writer
        m_fd = nnprune::detail::injected_fault() ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        NNPRUNE_CHECK(m_fd >= 0, nnprune::io_error,
                      nnprune::detail::str("cannot open ", m_path, ": ", std::strerror(errno)));
        if (::fstat(m_fd, &m_opened) != 0 || !S_ISREG(m_opened.st_mode)) {
            ::close(m_fd);
            NNPRUNE_THROW(nnprune::io_error, nnprune::detail::str("cannot read ", m_path, ": not a regular file"));
        }
        (void)::posix_fadvise(m_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }

    /// @throws io_error when the file was written to or truncated since it was opened (its size or
    /// modification time differ): what was read may mix old and new bytes.
    /// Replacing the file by a rename is harmless (this one stays open) and is not reported.
    void check_unchanged() const {
        struct stat now {};

        const bool same = ::fstat(m_fd, &now) == 0 && now.st_size == m_opened.st_size &&
                          now.st_mtim.tv_sec == m_opened.st_mtim.tv_sec &&
                          now.st_mtim.tv_nsec == m_opened.st_mtim.tv_nsec;
        NNPRUNE_CHECK(same, nnprune::io_error,
                      nnprune::detail::str(m_path,
                                           " was modified while nnprune read it (another process wrote to it); "
                                           "nothing was written"));
    }

    input_file(const input_file&) = delete;
    input_file& operator=(const input_file&) = delete;

    ~input_file() {
        if (m_fd >= 0) ::close(m_fd);
    }

    /// Reads exactly out.size() bytes at `offset`. @throws io_error on a failure or a short file.
    void read(std::uint64_t offset, std::span<std::byte> out) const {
        std::size_t done = 0;
        while (done < out.size()) {
            const ::ssize_t r = nnprune::detail::injected_fault() ? -1
                                                                  : ::pread(m_fd, out.data() + done, out.size() - done,
                                                                            static_cast<::off_t>(offset + done));
            if (r < 0 && errno == EINTR) continue;
            NNPRUNE_CHECK(r > 0, nnprune::io_error,
                          nnprune::detail::str("cannot read ", out.size(), " bytes at offset ", offset, " of ", m_path,
                                               ": ", r == 0 ? "unexpected end of file" : std::strerror(errno)));
            done += static_cast<std::size_t>(r);
        }
    }

    [[nodiscard]] const std::string& path() const noexcept { return m_path; }

    /// Its size when it was opened.
    [[nodiscard]] std::uint64_t size() const noexcept { return static_cast<std::uint64_t>(m_opened.st_size); }

private:
    std::string m_path;
    int m_fd = -1;

    struct stat m_opened {};
};

/// One line on stderr, redrawn in place (at most 10 times a second), only when stderr is a
/// terminal and it is enabled: bytes and tensors done of the total, elapsed time and time left.
class progress {
public:
    progress(std::uint64_t total_bytes, std::size_t total_items, bool enabled)
        : m_total_bytes(total_bytes), m_total_items(total_items), m_on(enabled && ::isatty(2) == 1) {}

    void step(std::uint64_t bytes, const std::string& what) {
        m_bytes += bytes;
        ++m_items;
        if (!m_on) return;
        const auto now = std::chrono::steady_clock::now();
        if (m_items < m_total_items && now - m_drawn < std::chrono::milliseconds(100)) return;
        m_drawn = now;
        const double secs = std::chrono::duration<double>(now - m_start).count();
        const double frac = m_total_bytes ? static_cast<double>(m_bytes) / static_cast<double>(m_total_bytes) : 1.0;
        constexpr int width = 24;
        std::string bar(static_cast<std::size_t>(std::clamp(frac, 0.0, 1.0) * width), '#');
        bar.resize(width, ' ');
        const double left = frac > 0.0 ? secs * (1.0 - frac) / frac : 0.0;
        std::fprintf(stderr, "\r[%s] %.2f/%.2f GB %zu/%zu tensors %s elapsed %s left  %-32.32s", bar.c_str(),
                     static_cast<double>(m_bytes) / 1e9, static_cast<double>(m_total_bytes) / 1e9, m_items,
                     m_total_items, clock(secs).c_str(), clock(left).c_str(), what.c_str());
        std::fflush(stderr);
    }

    ~progress() {
        if (m_on) std::fprintf(stderr, "\n");
    }

    progress(const progress&) = delete;
    progress& operator=(const progress&) = delete;

private:
    static std::string clock(double secs) {
        const auto s = static_cast<long>(secs + 0.5);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
        return buf;
    }

    std::uint64_t m_total_bytes, m_bytes = 0;
    std::size_t m_total_items, m_items = 0;
    bool m_on;
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now(), m_drawn{};
};

}  // namespace nnprune_cli

#endif  // NNPRUNE_EXAMPLES_CLI_TENSOR_IO_HPP
