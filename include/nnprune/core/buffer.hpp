#ifndef NNPRUNE_CORE_BUFFER_HPP
#define NNPRUNE_CORE_BUFFER_HPP

/// @file buffer.hpp
/// Growing the library's big buffers (scores, masks, I/O) cheaply. A fresh 4 KiB page costs a
/// page fault when first touched (about 10 us on virtual machines: 0.6 s for the 262 MB scores of
/// one 32000x2048 embedding); a transparent huge page costs one fault per 2 MiB. So a buffer of
/// at least 2 MiB is advised for huge pages (Linux MADV_HUGEPAGE, a hint the kernel may ignore)
/// after it is allocated and before anything touches it.

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "../detail/fault_injection.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace nnprune::detail {

inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

/// Asks the kernel to back the whole 2 MiB-aligned pages inside [p, p + bytes) with huge pages.
inline void advise_huge_pages(void* p, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes < huge_page_bytes) return;
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t begin = (a + huge_page_bytes - 1) & ~(huge_page_bytes - 1);
    const std::uintptr_t end = (a + bytes) & ~(huge_page_bytes - 1);
    if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

/// Makes v hold at least n elements: the new storage, when it must grow, is advised for huge
/// pages before the new elements are value-initialised (first touched). Never shrinks.
template <class T>
void grow_buffer(std::vector<T>& v, std::size_t n) {
    if (v.size() >= n) return;
    if (v.capacity() < n) {
        if (injected_fault()) throw std::bad_alloc();
        std::vector<T> fresh;
        fresh.reserve(n);
        advise_huge_pages(fresh.data(), n * sizeof(T));
        fresh.assign(v.begin(), v.end());
        v.swap(fresh);
    }
    v.resize(n);
}

/// A vector of n copies of x whose storage is advised for huge pages before it is filled.
template <class T>
[[nodiscard]] std::vector<T> filled_buffer(std::size_t n, const T& x) {
    std::vector<T> v;
    v.reserve(n);
    advise_huge_pages(v.data(), n * sizeof(T));
    v.assign(n, x);
    return v;
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_CORE_BUFFER_HPP
