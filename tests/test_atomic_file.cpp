#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>

#include "io_test_util.hpp"
#include <nnprune/io/atomic_file.hpp>
#include <nnprune/io/mapped_file.hpp>

using Catch::Contains;

namespace {
std::vector<std::string> sorted_names(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}
}  // namespace

TEST_CASE("atomic_file: commit makes the file appear whole", "[io][atomic_file]") {
    io_test::scratch_dir dir;
    const io_test::bytes data{std::byte{1}, std::byte{2}, std::byte{3}};
    {
        nnprune::atomic_file f(dir / "a.bin");
        f.write(data);
        CHECK(dir.entries().size() == 1);  // only the temporary file so far
        CHECK(dir.entries()[0] != "a.bin");
        CHECK(dir.entries()[0].rfind(".a.bin.tmp.", 0) == 0);
        f.commit();
        REQUIRE_THROWS_AS(f.write(data), nnprune::io_error);
    }
    CHECK(dir.entries() == std::vector<std::string>{"a.bin"});
    const nnprune::mapped_file m(dir / "a.bin");
    CHECK(std::vector<std::byte>(m.bytes().begin(), m.bytes().end()) == data);
    CHECK((std::filesystem::status(dir / "a.bin").permissions() & std::filesystem::perms::owner_read) !=
          std::filesystem::perms::none);
}

TEST_CASE("atomic_file: file_sync::atomic_only replaces the file whole, and a failure leaves it untouched",
          "[io][atomic_file]") {
    io_test::scratch_dir dir;
    const io_test::bytes old{std::byte{9}}, data(5000, std::byte{4});
    io_test::write_file(dir / "a.bin", old);
    {
        nnprune::atomic_file f(dir / "a.bin", nnprune::file_sync::atomic_only);
        f.write(data);
        CHECK(io_test::read_file(dir / "a.bin") == old);  // readers see the old file until commit
        CHECK(dir.entries().size() == 2);
    }
    CHECK(io_test::read_file(dir / "a.bin") == old);  // not committed: the temporary file is gone
    CHECK(dir.entries() == std::vector<std::string>{"a.bin"});
    nnprune::atomic_file g(dir / "a.bin", nnprune::file_sync::atomic_only);
    g.write(data);
    g.commit();
    CHECK(io_test::read_file(dir / "a.bin") == data);
    CHECK(dir.entries() == std::vector<std::string>{"a.bin"});
    REQUIRE_THROWS_WITH(g.commit(), Contains("already closed"));
}

TEST_CASE("atomic_file: write_at fills a known layout in any order", "[io][atomic_file]") {
    io_test::scratch_dir dir;
    nnprune::atomic_file f(dir / "a.bin");
    f.write(io_test::bytes{std::byte{1}, std::byte{2}});  // the header, appended
    f.write_at(5, io_test::bytes{std::byte{6}, std::byte{7}});
    f.write_at(2, io_test::bytes{std::byte{3}, std::byte{4}, std::byte{5}});
    f.commit();
    CHECK(io_test::read_file(dir / "a.bin") == io_test::bytes{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                                                              std::byte{5}, std::byte{6}, std::byte{7}});
}

TEST_CASE("atomic_file: a failure half way leaves no output and the old file untouched", "[io][atomic_file]") {
    io_test::scratch_dir dir;
    const io_test::bytes old{std::byte{9}};
    io_test::write_file(dir / "a.bin", old);
    const auto half_written = [&] {
        nnprune::atomic_file f(dir / "a.bin");
        f.write(io_test::bytes(1000, std::byte{5}));
        throw std::runtime_error("simulated failure between two writes");
    };
    REQUIRE_THROWS_WITH(half_written(), "simulated failure between two writes");
    CHECK(dir.entries() == std::vector<std::string>{"a.bin"});
    CHECK(io_test::read_file(dir / "a.bin") == old);

    nnprune::atomic_file g(dir / "b.bin");
    g.write(old);
    g.abandon();
    REQUIRE_THROWS_WITH(g.commit(), Contains("already closed"));
    CHECK(dir.entries() == std::vector<std::string>{"a.bin"});
}

TEST_CASE("atomic_file: an impossible target is an io_error", "[io][atomic_file]") {
    io_test::scratch_dir dir;
    REQUIRE_THROWS_AS(nnprune::atomic_file(dir / "missing" / "x.bin"), nnprune::io_error);
    REQUIRE_THROWS_WITH(
        nnprune::atomic_file(dir / "missing" / "x.bin"),
        Contains("cannot create a temporary file for") && Contains("x.bin") && Contains("No such file"));
    CHECK(dir.entries().empty());
}

TEST_CASE("mapped_file: maps, moves and reports errors", "[io][mapped_file]") {
    io_test::scratch_dir dir;
    io_test::write_file(dir / "f", io_test::bytes(10, std::byte{4}));
    nnprune::mapped_file a(dir / "f");
    CHECK(a.size() == 10);
    const auto* p = a.bytes().data();
    nnprune::mapped_file b(std::move(a));
    CHECK(b.bytes().data() == p);
    CHECK(a.size() == 0);  // NOLINT(bugprone-use-after-move): moved-from is empty
    io_test::write_file(dir / "empty", {});
    CHECK(nnprune::mapped_file(dir / "empty").bytes().empty());
    REQUIRE_THROWS_WITH(nnprune::mapped_file(dir / "nope"), Contains("cannot open") && Contains("nope"));
}

TEST_CASE("atomic_file: remove_atomic_temporaries unlinks the live temporary files only", "[io][atomic_file]") {
    io_test::scratch_dir dir;
    const io_test::bytes data{std::byte{9}};
    io_test::write_file(dir / "done.bin", data);
    {
        nnprune::atomic_file committed(dir / "c.bin");
        committed.write(data);
        committed.commit();
        nnprune::atomic_file abandoned(dir / "x.bin");
        abandoned.abandon();
        nnprune::atomic_file live(dir / "done.bin"), other(dir / "b.bin");
        live.write(data);
        // the temporary names carry the process id, for remove_stale_temporaries
        CHECK(live.temp_path().find(".done.bin.tmp." + std::to_string(::getpid()) + ".") != std::string::npos);
        CHECK(dir.entries().size() == 4);      // c.bin, done.bin and the two temporaries
        nnprune::remove_atomic_temporaries();  // what a signal handler calls
        CHECK(sorted_names(dir.entries()) == std::vector<std::string>{"c.bin", "done.bin"});
        REQUIRE_THROWS_AS(live.commit(), nnprune::io_error);  // its file is gone: the target stays
    }
    CHECK(io_test::read_file(dir / "done.bin") == data);
    CHECK(io_test::read_file(dir / "c.bin") == data);
}

TEST_CASE("atomic_file: remove_stale_temporaries removes what dead processes left", "[io][atomic_file]") {
    io_test::scratch_dir dir;
    const ::pid_t child = ::fork();  // a process id that is certainly gone once reaped
    if (child == 0) ::_exit(0);
    REQUIRE(child > 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    const std::string dead = std::to_string(child), alive = std::to_string(::getpid());
    for (const std::string& name :
         std::vector<std::string>{".o.bin.tmp." + dead + ".aB3xYz", ".o.bin.tmp." + alive + ".aB3xYz",
                                  ".p.bin.tmp." + dead + ".aB3xYz", ".o.bin.tmp.abc.aB3xYz", "o.bin"})
        io_test::write_file(dir / name, {});
    CHECK(nnprune::remove_stale_temporaries(dir / "o.bin") == 1);
    CHECK(sorted_names(dir.entries()) == sorted_names({".o.bin.tmp." + alive + ".aB3xYz", ".o.bin.tmp.abc.aB3xYz",
                                                       ".p.bin.tmp." + dead + ".aB3xYz", "o.bin"}));
    CHECK(nnprune::remove_stale_temporaries(dir / "missing/o.bin") == 0);  // no such directory
}

TEST_CASE("commit_together: every target replaced at once, or none", "[io][atomic_file]") {
    io_test::scratch_dir dir;
    const io_test::bytes old_a{std::byte{1}}, old_c{std::byte{3}, std::byte{3}};
    const io_test::bytes new_a(10, std::byte{7}), new_b(20, std::byte{8}), new_c(30, std::byte{9});
    auto fresh = [&] {
        std::filesystem::remove_all(dir / "sub");
        std::filesystem::create_directory(dir / "sub");
        io_test::write_file(dir / "a.bin", old_a);
        std::filesystem::remove(dir / "sub" / "b.bin");
        io_test::write_file(dir / "sub" / "c.bin", old_c);
    };
    auto listing = [&] {
        std::vector<std::string> v = dir.entries();
        for (const auto& e : std::filesystem::directory_iterator(dir / "sub"))
            v.push_back("sub/" + e.path().filename().string());
        return sorted_names(v);
    };
    const std::vector<std::string> before{"a.bin", "sub", "sub/c.bin"};
    for (const auto sync : {nnprune::file_sync::durable, nnprune::file_sync::atomic_only}) {
        fresh();
        {
            nnprune::atomic_file a(dir / "a.bin", sync), b(dir / "sub" / "b.bin", sync), c(dir / "sub" / "c.bin", sync);
            a.write(new_a);
            b.write(new_b);
            c.write(new_c);
            std::vector<nnprune::atomic_file*> all{&a, &b, &c};
            nnprune::commit_together(all);
            REQUIRE_THROWS_AS(a.write(new_a), nnprune::io_error);
            CHECK(a.temp_path().empty());
        }
        CHECK(io_test::read_file(dir / "a.bin") == new_a);
        CHECK(io_test::read_file(dir / "sub" / "b.bin") == new_b);
        CHECK(io_test::read_file(dir / "sub" / "c.bin") == new_c);
        CHECK(listing() == std::vector<std::string>{"a.bin", "sub", "sub/b.bin", "sub/c.bin"});

        // the last rename fails (its temporary vanished): the first two are undone
        for (int missing = 0; missing < 3; ++missing) {
            fresh();
            {
                nnprune::atomic_file a(dir / "a.bin", sync), b(dir / "sub" / "b.bin", sync),
                    c(dir / "sub" / "c.bin", sync);
                a.write(new_a);
                b.write(new_b);
                c.write(new_c);
                std::vector<nnprune::atomic_file*> all{&a, &b, &c};
                for (auto* f : all) f->prepare();
                std::filesystem::remove(all[static_cast<std::size_t>(missing)]->temp_path());
                REQUIRE_THROWS_WITH(nnprune::commit_together(all), Contains("nothing was changed"));
            }
            CHECK(io_test::read_file(dir / "a.bin") == old_a);
            CHECK(io_test::read_file(dir / "sub" / "c.bin") == old_c);
            CHECK(listing() == before);  // b.bin not created, no temporary or backup left
        }
    }
    // a target that is a directory is refused before anything is renamed
    fresh();
    std::filesystem::create_directory(dir / "sub" / "b.bin");
    {
        nnprune::atomic_file a(dir / "a.bin"), b(dir / "sub" / "b.bin");
        a.write(new_a);
        b.write(new_b);
        std::vector<nnprune::atomic_file*> all{&a, &b};
        REQUIRE_THROWS_WITH(nnprune::commit_together(all), Contains("not a regular file"));
    }
    CHECK(io_test::read_file(dir / "a.bin") == old_a);
    CHECK(listing() == std::vector<std::string>{"a.bin", "sub", "sub/b.bin", "sub/c.bin"});
    // a committed file cannot be committed again
    nnprune::atomic_file d(dir / "d.bin");
    d.commit();
    std::vector<nnprune::atomic_file*> one{&d, &d};
    REQUIRE_THROWS_AS(nnprune::commit_together(one), nnprune::io_error);
}
