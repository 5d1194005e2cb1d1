#ifndef NNPRUNE_IO_MAPPED_FILE_HPP
#define NNPRUNE_IO_MAPPED_FILE_HPP

/// @file mapped_file.hpp
/// mapped_file: a whole file mapped read-only (POSIX mmap), so tensors can be viewed without
/// copying. The mapping lives as long as the object (move-only). Another process truncating the
/// file while it is mapped makes later reads fault (SIGBUS): map files you do not rewrite in place
/// (nnprune's writers never do: they rename a new file over the old one).

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <span>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include "../config.hpp"
#include "../core/errors.hpp"

namespace nnprune {

class mapped_file {
public:
    mapped_file() = default;

    /// Maps `path` read-only. @throws io_error when it cannot be opened, is not a regular file or
    /// cannot be mapped (the message names the path and the system's reason).
    explicit mapped_file(const std::filesystem::path& path) : m_path(path) {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer before the
        // regular-file check below could refuse it (it does not change reads of a regular file)
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        NNPRUNE_CHECK(fd >= 0, io_error,
                      detail::str("mapped_file: cannot open ", path.string(), ": ", std::strerror(errno)));

        struct stat st {};

        if (::fstat(fd, &st) != 0) {
            const int err = errno;
            ::close(fd);
            NNPRUNE_THROW(io_error, detail::str("mapped_file: cannot stat ", path.string(), ": ", std::strerror(err)));
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            NNPRUNE_THROW(io_error, detail::str("mapped_file: ", path.string(), " is not a regular file"));
        }
        m_size = static_cast<std::size_t>(st.st_size);
        if (m_size > 0) {
            void* p = ::mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int err = errno;
                ::close(fd);
                NNPRUNE_THROW(io_error,
                              detail::str("mapped_file: cannot map ", path.string(), ": ", std::strerror(err)));
            }
            m_data = static_cast<const std::byte*>(p);
        }
        ::close(fd);  // the mapping stays valid
    }

    mapped_file(mapped_file&& o) noexcept
        : m_path(std::move(o.m_path)), m_data(std::exchange(o.m_data, nullptr)), m_size(std::exchange(o.m_size, 0)) {}

    mapped_file& operator=(mapped_file&& o) noexcept {
        if (this != &o) {
            unmap();
            m_path = std::move(o.m_path);
            m_data = std::exchange(o.m_data, nullptr);
            m_size = std::exchange(o.m_size, 0);
        }
        return *this;
    }

    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;

    ~mapped_file() { unmap(); }

    /// The file's bytes (empty for an empty file); page-aligned.
    [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {m_data, m_size}; }

    [[nodiscard]] std::size_t size() const noexcept { return m_size; }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_path; }

private:
    void unmap() noexcept {
        if (m_data) ::munmap(const_cast<std::byte*>(m_data), m_size);
        m_data = nullptr;
        m_size = 0;
    }

    std::filesystem::path m_path;
    const std::byte* m_data = nullptr;
    std::size_t m_size = 0;
};

}  // namespace nnprune

#endif  // NNPRUNE_IO_MAPPED_FILE_HPP
