#ifndef NNPRUNE_EXAMPLES_CLI_OUTPUT_DIRECTORY_HPP
#define NNPRUNE_EXAMPLES_CLI_OUTPUT_DIRECTORY_HPP

/// @file output_directory.hpp
/// The directory a sharded model is written to, held for one run: created when missing (with its
/// missing parents), locked against other runs writing to it (flock, exclusive, without waiting:
/// a second run fails at once instead of interleaving its shards), and removed again unless the
/// run committed (only the directories this run created, and only while empty). A SIGINT/SIGTERM
/// handler calls remove_created_directories() after removing the temporary files.

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <nnprune/core/errors.hpp>
#include <nnprune/detail/fault_injection.hpp>

namespace nnprune_cli {

namespace detail {
inline constexpr std::size_t created_slots = 16;
/// The directories created by the live output_directory, innermost first (for the handler).
inline std::atomic<const char*> created_directories[created_slots] = {};
}  // namespace detail

/// Removes the directories an unfinished run created, if empty. Async-signal-safe (rmdir(2)).
inline void remove_created_directories() noexcept {
    for (auto& slot : detail::created_directories)
        if (const char* p = slot.load()) ::rmdir(p);
}

class output_directory {
public:
    explicit output_directory(const std::filesystem::path& dir) : m_dir(dir) {
        using nnprune::detail::str;
        std::vector<std::filesystem::path> missing;  // outermost last
        for (std::filesystem::path p = std::filesystem::absolute(dir).lexically_normal();
             !p.empty() && p.has_filename() && !exists(p); p = p.parent_path())
            missing.push_back(p);
        for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
            if (nnprune::detail::injected_fault() || ::mkdir(it->c_str(), 0755) != 0) {
                if (errno == EEXIST) continue;  // made by another process meanwhile: not ours to remove
                const int err = errno;
                remove_created();
                NNPRUNE_THROW(nnprune::io_error, str("prune: cannot create the output directory ", it->string(), ": ",
                                                     std::strerror(err)));
            }
            m_created.insert(m_created.begin(), it->string());
        }
        for (std::size_t i = 0; i < m_created.size() && i < detail::created_slots; ++i)
            detail::created_directories[i].store(m_created[i].c_str());
        m_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const int err = errno;
        if (m_fd < 0) {
            remove_created();
            NNPRUNE_THROW(nnprune::io_error,
                          str("prune: -o ", dir.string(), ": cannot open the output directory: ", std::strerror(err)));
        }
        if (nnprune::detail::injected_fault() || ::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
            const int lerr = errno;
            ::close(m_fd);
            m_fd = -1;
            remove_created();
            NNPRUNE_THROW(nnprune::io_error,
                          str("prune: -o ", dir.string(), ": ",
                              lerr == EWOULDBLOCK ? std::string("another process is writing to this directory")
                                                  : "cannot lock it: " + std::string(std::strerror(lerr)),
                              "; nothing was written"));
        }
    }

    output_directory(const output_directory&) = delete;
    output_directory& operator=(const output_directory&) = delete;

    /// Unlocks; removes the directories it created unless the run committed.
    ~output_directory() {
        if (!m_kept) remove_created();
        if (m_fd >= 0) ::close(m_fd);  // releases the lock
    }

    /// The run committed: the directories stay.
    void keep() noexcept {
        m_kept = true;
        forget();
    }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_dir; }

private:
    static bool exists(const std::filesystem::path& p) {
        struct stat st {};

        return ::lstat(p.c_str(), &st) == 0;
    }

    void remove_created() noexcept {
        forget();
        for (const std::string& d : m_created) ::rmdir(d.c_str());  // innermost first; fails when not empty
        m_created.clear();
    }

    void forget() noexcept {
        for (auto& slot : detail::created_directories) slot.store(nullptr);
    }

    std::filesystem::path m_dir;
    std::vector<std::string> m_created;  ///< innermost first
    int m_fd = -1;
    bool m_kept = false;
};

}  // namespace nnprune_cli

#endif  // NNPRUNE_EXAMPLES_CLI_OUTPUT_DIRECTORY_HPP
