#ifndef NNPRUNE_IO_ATOMIC_FILE_HPP
#define NNPRUNE_IO_ATOMIC_FILE_HPP

/// @file atomic_file.hpp
/// atomic_file: writes a file so that readers see either the old file or the complete new one.
/// Data goes to a temporary file in the target's directory (".<name>.tmp.<pid>.XXXXXX"); commit()
/// fsyncs it, renames it over the target and fsyncs the directory (file_sync::durable, the
/// default), or only renames it (file_sync::atomic_only: still all-or-nothing for readers and
/// for a failing writer, but not across a power loss; writing at page-cache speed). If commit()
/// is not reached (an exception, a failed write) the temporary file is removed and the target is
/// untouched. commit_together() commits several atomic_files as one: every target is replaced,
/// or none is.
///
/// Signals and crashes: remove_atomic_temporaries() unlinks the temporary file of every live
/// atomic_file and is async-signal-safe, for a program's SIGINT/SIGTERM handler (the library
/// installs none); remove_stale_temporaries(target) removes those a killed process (SIGKILL, a
/// power loss) left behind, recognised by the process id in their name.

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <pthread.h>
#include <span>
#include <stdlib.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../detail/fault_injection.hpp"

namespace nnprune {

namespace detail {

/// The temporary files of the live atomic_files (constant-initialised atomics, so a signal
/// handler may read them). Files beyond the slots still work, untracked.
inline constexpr std::size_t temporary_slots = 256;
inline std::atomic<const char*> live_temporaries[temporary_slots] = {};

[[nodiscard]] inline std::size_t track_temporary(const char* path) noexcept {
    for (std::size_t i = 0; i < temporary_slots; ++i) {
        const char* expected = nullptr;
        if (live_temporaries[i].compare_exchange_strong(expected, path)) return i;
    }
    return temporary_slots;
}

inline void untrack_temporary(std::size_t slot) noexcept {
    if (slot < temporary_slots) live_temporaries[slot].store(nullptr);
}

/// ".<name>.tmp." of a target: the start of its temporary files' names.
[[nodiscard]] inline std::string temporary_prefix(const std::filesystem::path& target) {
    return "." + target.filename().string() + ".tmp.";
}

/// fsyncs the directory of `target` (best effort: a rename is durable once its directory is).
inline void sync_directory(const std::filesystem::path& target) noexcept {
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

/// Blocks every signal that can be blocked on this thread for its lifetime.
class signals_blocked {
public:
    signals_blocked() noexcept {
        sigset_t all;
        ::sigfillset(&all);
        ::pthread_sigmask(SIG_BLOCK, &all, &m_old);
    }

    ~signals_blocked() { ::pthread_sigmask(SIG_SETMASK, &m_old, nullptr); }

    signals_blocked(const signals_blocked&) = delete;
    signals_blocked& operator=(const signals_blocked&) = delete;

private:
    sigset_t m_old{};
};

}  // namespace detail

/// Unlinks the temporary file of every live atomic_file (their commit() then fails). Uses only
/// atomics and unlink(2): async-signal-safe, for a SIGINT/SIGTERM handler.
inline void remove_atomic_temporaries() noexcept {
    for (auto& slot : detail::live_temporaries)
        if (const char* p = slot.load()) ::unlink(p);
}

/// Removes the temporary files of `target` left by processes that no longer run
/// (".<name>.tmp.<pid>.*" with no process <pid>); returns how many. Files of running processes,
/// of other names and unreadable directories are left alone. The process ids are this machine's:
/// not for a directory that programs on other machines write to (a network file system).
inline std::size_t remove_stale_temporaries(const std::filesystem::path& target) {
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const std::string prefix = detail::temporary_prefix(target);
    std::size_t removed = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.compare(0, prefix.size(), prefix) != 0) continue;
        const std::size_t dot = name.find('.', prefix.size());
        const std::string digits = name.substr(prefix.size(), dot == std::string::npos ? 0 : dot - prefix.size());
        if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
            continue;
        const auto pid = static_cast<::pid_t>(std::stol(digits));
        if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // running, or not ours to judge
        std::error_code rm;
        if (std::filesystem::remove(e.path(), rm)) ++removed;
    }
    return removed;
}

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
        std::string tmpl =
            (dir / (detail::temporary_prefix(m_target) + std::to_string(::getpid()) + ".XXXXXX")).string();
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        m_temp.assign(buf.data());  // allocated before the file exists: tracking it cannot fail
        int err = 0;
        {  // no signal between creating the file and tracking it: a handler calling
           // remove_atomic_temporaries() sees every temporary file that exists
            const detail::signals_blocked quiet;
            m_fd = detail::injected_fault() ? -1 : ::mkstemp(buf.data());
            err = errno;
            if (m_fd >= 0) {
                m_temp.assign(buf.data());  // same length: no allocation
                m_slot = detail::track_temporary(m_temp.c_str());
            }
        }
        if (m_fd < 0) m_temp.clear();
        NNPRUNE_CHECK(m_fd >= 0, io_error,
                      detail::str("atomic_file: cannot create a temporary file for ", m_target.string(), ": ",
                                  std::strerror(err)));
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
            const ::ssize_t w = detail::injected_fault() ? -1 : ::write(m_fd, p, left);
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
            const ::ssize_t w = detail::injected_fault() ? -1
                                                         : ::pwrite(m_fd, data.data() + done, data.size() - done,
                                                                    static_cast<::off_t>(offset + done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) fail("write");
            done += static_cast<std::size_t>(w);
        }
    }

    /// Makes the new file visible under the target name. @throws io_error (nothing changed then).
    void commit() {
        prepare();
        if (detail::injected_fault() || ::rename(m_temp.c_str(), m_target.c_str()) != 0) fail("rename to the target");
        forget_temp();
        if (m_sync == file_sync::durable) detail::sync_directory(m_target);
    }

    /// Finishes the new file (fsync with file_sync::durable, close) without making it visible:
    /// only commit() or commit_together() may follow. Idempotent. @throws io_error (the
    /// temporary file is removed at once).
    void prepare() {
        if (m_prepared) return;
        NNPRUNE_CHECK(m_fd >= 0, io_error, detail::str("atomic_file: ", m_target.string(), " is already closed"));
        if (m_sync == file_sync::durable && (detail::injected_fault() || ::fsync(m_fd) != 0)) fail("fsync");
        const int fd = m_fd;
        m_fd = -1;
        if (::close(fd) != 0 || detail::injected_fault()) fail("close");
        m_prepared = true;
    }

    /// Drops the temporary file (idempotent; commit() afterwards throws).
    void abandon() noexcept {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = -1;
        m_prepared = false;
        if (!m_temp.empty()) ::unlink(m_temp.c_str());
        forget_temp();
    }

    [[nodiscard]] const std::filesystem::path& target() const noexcept { return m_target; }

    /// The temporary file's path (empty after commit() or abandon()).
    [[nodiscard]] const std::string& temp_path() const noexcept { return m_temp; }

private:
    friend void commit_together(std::span<atomic_file* const> files);

    /// Untracks the temporary file, then drops its name (a signal handler may still read it until
    /// untracked; unlinking a renamed or removed file again is harmless).
    void forget_temp() noexcept {
        detail::untrack_temporary(m_slot);
        m_slot = detail::temporary_slots;
        m_temp.clear();
        m_prepared = false;
    }

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
    bool m_prepared = false;                       ///< closed, waiting for its rename
    std::size_t m_slot = detail::temporary_slots;  ///< its place in detail::live_temporaries
};

/**
 * @brief Commits several atomic_files as one: every target is replaced, or none is.
 * Each file is prepared (fsync, close) first; then, with signals blocked, every existing target
 * gets a backup (a hard link ".<name>.tmp.<pid>.XXXXXX.old"; a rename where the file system has
 * no hard links) and the new files are renamed over their targets. If a rename fails, the ones
 * already done are undone from the backups before the exception. Readers see each target old
 * or new, never missing (with hard links); a reader of several targets during the renames (a
 * few system calls) may see some new and some old. A SIGKILL or power loss inside that window
 * can leave such a mix, and the backups, which the next remove_stale_temporaries() removes.
 * A target that exists must be a regular file. A file already committed or abandoned is an error. @throws io_error;
 * nothing changed then (the message says otherwise, naming the paths, if even the rollback failed).
 */
inline void commit_together(std::span<atomic_file* const> files) {
    if (files.size() == 1) return files[0]->commit();
    for (atomic_file* f : files) f->prepare();

    struct step {
        atomic_file* f;
        std::string backup;  ///< the old target's second name (empty: there was none)
        bool moved = false;  ///< the backup was made by rename (the target is missing meanwhile)
        bool done = false;   ///< the new file is in place
    };

    std::vector<step> steps;
    for (atomic_file* f : files) steps.push_back({f, {}});
    const detail::signals_blocked quiet;  // no handler runs between the renames
    auto undo = [&steps]() -> std::string {
        std::string trouble;
        for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
            const char* target = it->f->m_target.c_str();
            int rc = 0;
            if (it->backup.empty())
                rc = it->done ? ::unlink(target) : 0;
            else if (it->done || it->moved)
                rc = ::rename(it->backup.c_str(), target);
            else
                rc = ::unlink(it->backup.c_str());
            if (rc != 0)
                trouble += detail::str("; restoring ", target, " failed (", std::strerror(errno), ")",
                                       it->backup.empty() ? "" : detail::str(": its old contents are in ", it->backup));
        }
        return trouble;
    };
    auto fail = [&](const std::string& what, int err) {
        const std::string trouble = undo();
        NNPRUNE_THROW(io_error, detail::str("atomic_file: ", what, ": ", std::strerror(err),
                                            trouble.empty() ? "; nothing was changed" : trouble));
    };
    for (step& s : steps) {
        struct stat st {};

        if (::lstat(s.f->m_target.c_str(), &st) != 0) continue;  // no old target
        if (!S_ISREG(st.st_mode))
            fail(detail::str(s.f->m_target.string(), " exists and is not a regular file"), EEXIST);
        s.backup = s.f->m_temp + ".old";  // unique: the temporary's name is
        if (!detail::injected_fault() && ::link(s.f->m_target.c_str(), s.backup.c_str()) == 0) continue;
        int err = errno;
        if (err == EPERM || err == EOPNOTSUPP || err == EMLINK) {  // no hard links here: move it aside
            if (!detail::injected_fault() && ::rename(s.f->m_target.c_str(), s.backup.c_str()) == 0) {
                s.moved = true;
                continue;
            }
            err = errno;
        }
        s.backup.clear();
        fail(detail::str("cannot keep the old ", s.f->m_target.string(), " while committing"), err);
    }
    for (step& s : steps) {
        if (detail::injected_fault() || ::rename(s.f->m_temp.c_str(), s.f->m_target.c_str()) != 0)
            fail(detail::str("rename to ", s.f->m_target.string(), " failed"), errno);  // errno: read before undo
        s.done = true;
    }
    for (step& s : steps) {
        if (!s.backup.empty()) ::unlink(s.backup.c_str());
        if (s.f->m_sync == file_sync::durable) detail::sync_directory(s.f->m_target);
        s.f->forget_temp();
    }
}

}  // namespace nnprune

#endif  // NNPRUNE_IO_ATOMIC_FILE_HPP
