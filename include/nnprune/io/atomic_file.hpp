#ifndef NNPRUNE_IO_ATOMIC_FILE_HPP
#define NNPRUNE_IO_ATOMIC_FILE_HPP

/// @file atomic_file.hpp
/// atomic_file: writes a file so that readers see either the old file or the complete new one.
/// Data goes to a temporary file in the target's directory (".<name>.tmp.XXXXXX"); commit()
/// fsyncs it, renames it over the target and fsyncs the directory (file_sync::durable, the
/// default), or only renames it (file_sync::atomic_only: still all-or-nothing for readers and
/// for a failing writer, but not across a power loss; writing at page-cache speed). If commit()
/// is not reached (an exception, a failed write) the temporary file is removed and the target is
/// untouched.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <span>
#include <stdlib.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"

namespace nnprune {

/// Whether atomic_file::commit() also makes the new file durable (see atomic_file).
enum class file_sync { durable, atomic_only };

class atomic_file {
public:
    /// Creates the temporary file next to `target` (mode 0644).
    /// @throws io_error when it cannot be created (missing directory, no permission, ...).
    explicit atomic_file(std::filesystem::path target, file_sync sync = file_sync::durable)
        : m_target(std::move(target)), m_sync(sync) {
        NNPRUNE_CHECK(!m_target.filename().empty(), io_error,
                      detail::str("atomic_file: ", m_target.string(), " does not name a file"));
        const std::filesystem::path dir =
            m_target.has_parent_path() ? m_target.parent_path() : std::filesystem::path(".");
        std::string tmpl = (dir / ("." + m_target.filename().string() + ".tmp.XXXXXX")).string();
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        m_fd = ::mkstemp(buf.data());
        NNPRUNE_CHECK(m_fd >= 0, io_error,
                      detail::str("atomic_file: cannot create a temporary file for ", m_target.string(), ": ",
                                  std::strerror(errno)));
        m_temp = buf.data();
        ::fchmod(m_fd, 0644);
    }

    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;

    /// Removes the temporary file unless commit() succeeded.
    ~atomic_file() { abandon(); }

    /// Appends bytes. @throws io_error (the temporary file is removed at once).
    void write(std::span<const std::byte> data) {
        NNPRUNE_CHECK(m_fd >= 0, io_error, detail::str("atomic_file: ", m_target.string(), " is already closed"));
        const std::byte* p = data.data();
        std::size_t left = data.size();
        while (left > 0) {
            const ::ssize_t w = ::write(m_fd, p, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) fail("write");
            p += w;
            left -= static_cast<std::size_t>(w);
        }
    }

    /// Writes bytes at `offset` of the new file (pwrite; the file grows as needed, and the append
    /// position of write() does not move), so parts of a file whose layout is known can be
    /// written in any order. @throws io_error (the temporary file is removed at once).
    void write_at(std::uint64_t offset, std::span<const std::byte> data) {
        NNPRUNE_CHECK(m_fd >= 0, io_error, detail::str("atomic_file: ", m_target.string(), " is already closed"));
        std::size_t done = 0;
        while (done < data.size()) {
            const ::ssize_t w =
                ::pwrite(m_fd, data.data() + done, data.size() - done, static_cast<::off_t>(offset + done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) fail("write");
            done += static_cast<std::size_t>(w);
        }
    }

    /// Makes the new file visible under the target name. @throws io_error (nothing changed then).
    void commit() {
        NNPRUNE_CHECK(m_fd >= 0, io_error, detail::str("atomic_file: ", m_target.string(), " is already closed"));
        if (m_sync == file_sync::durable && ::fsync(m_fd) != 0) fail("fsync");
        const int fd = m_fd;
        m_fd = -1;
        if (::close(fd) != 0) fail("close");
        if (::rename(m_temp.c_str(), m_target.c_str()) != 0) fail("rename to the target");
        m_temp.clear();
        if (m_sync != file_sync::durable) return;
        const std::filesystem::path dir =
            m_target.has_parent_path() ? m_target.parent_path() : std::filesystem::path(".");
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {  // best effort: the rename is durable once the directory is synced
            (void)::fsync(dfd);
            ::close(dfd);
        }
    }

    /// Drops the temporary file (idempotent; commit() afterwards throws).
    void abandon() noexcept {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = -1;
        if (!m_temp.empty()) ::unlink(m_temp.c_str());
        m_temp.clear();
    }

    [[nodiscard]] const std::filesystem::path& target() const noexcept { return m_target; }

    /// The temporary file's path (empty after commit() or abandon()).
    [[nodiscard]] const std::string& temp_path() const noexcept { return m_temp; }

private:
    [[noreturn]] void fail(const char* what) {
        const int err = errno;
        abandon();
        NNPRUNE_THROW(io_error,
                      detail::str("atomic_file: ", what, " failed for ", m_target.string(), ": ", std::strerror(err)));
    }

    std::filesystem::path m_target;
    std::string m_temp;
    file_sync m_sync;
    int m_fd = -1;
};

}  // namespace nnprune

#endif  // NNPRUNE_IO_ATOMIC_FILE_HPP
