// Replays corpora through a fuzz target without libFuzzer: the regression half of the fuzzers
// (ctest fuzz.<name>, in the ordinary GCC ASan + UBSan build). Each argument is a file or a
// directory (its regular files, recursively, in sorted order); each file is one input to
// LLVMFuzzerTestOneInput. Prints how many ran; exits 1 when none did, or an argument is missing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool collect(const std::filesystem::path& path, std::vector<std::filesystem::path>& files) {
    std::error_code error;
    if (std::filesystem::is_regular_file(path, error)) {
        files.push_back(path);
        return true;
    }
    if (!std::filesystem::is_directory(path, error)) {
        std::fprintf(stderr, "corpus: %s is neither a file nor a directory\n", path.c_str());
        return false;
    }
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path, error)) {
        if (entry.is_regular_file()) {
            files.push_back(entry.path());
        }
    }
    return !error;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::filesystem::path> files;
    for (int index = 1; index < argc; ++index) {
        if (!collect(argv[index], files)) {
            return 1;
        }
    }
    std::sort(files.begin(), files.end());
    std::size_t ran = 0;
    for (const auto& file : files) {
        std::ifstream in(file, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) {
            std::fprintf(stderr, "corpus: cannot read %s\n", file.c_str());
            return 1;
        }
        // A copy of exactly `size` bytes, so ASan sees any read past the input's end.
        std::vector<std::uint8_t> input(bytes.begin(), bytes.end());
        LLVMFuzzerTestOneInput(input.data(), input.size());
        ++ran;
    }
    std::printf("corpus: %zu input(s) ran\n", ran);
    return ran == 0 ? 1 : 0;
}
