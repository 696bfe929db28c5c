# SPDX-License-Identifier: BSL-1.0
"""conan/conanfile.py: the Conan 2 recipe for h2coal, a header-only C++20 HTTP/2 client.

    conan create conan --build=missing          # package this checkout and run conan/test_package

The sources are this checkout (exported from the folder above), not a download, so the recipe lives in
the repository rather than in ConanCenter; it keeps ConanCenter's shape all the same. Consumers get
find_package(h2coal) and the target h2coal::h2coal through CMakeDeps, or h2coal.pc through PkgConfigDeps.

Untested on our machines, which cannot install Conan; the tests only byte-compile it.
"""
import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"


class H2coalConan(ConanFile):
    name = "h2coal"
    description = ("Header-only asynchronous HTTP/2 client for C++20 whose connection pool coalesces "
                   "under a pluggable, observable policy")
    topics = ("http2", "http", "client", "asio", "coalescing", "header-only")
    license = "BSL-1.0"  # LICENSE: the Boost Software License 1.0, as Asio's and Beast's
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    # with_cares: cares_resolver (h2coal/cares_resolver.hpp), c-ares with real TTLs and A/AAAA in parallel.
    # with_zlib, with_brotli, with_zstd: the Content-Encoding decoders (gzip and deflate, br, zstd).
    options = {
        "with_cares": [True, False],
        "with_zlib": [True, False],
        "with_brotli": [True, False],
        "with_zstd": [True, False],
    }
    default_options = {"with_cares": True, "with_zlib": True, "with_brotli": True, "with_zstd": True}
    no_copy_source = True

    @property
    def _project_root(self):
        return os.path.join(self.recipe_folder, os.pardir)

    def set_version(self):
        # The version is the CMake project's (CMakeLists.txt), unless given with --version.
        if not self.version:
            cmake = load(self, os.path.join(self._project_root, "CMakeLists.txt"))
            self.version = re.search(r"project\(h2coal\s+VERSION\s+([0-9.]+)", cmake).group(1)

    def export_sources(self):
        copy(self, "include/*", src=self._project_root, dst=self.export_sources_folder)
        copy(self, "LICENSE*", src=self._project_root, dst=self.export_sources_folder)

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        # The public headers include Asio, OpenSSL, nghttp2 (1.33+ for ORIGIN frames) and llhttp, so
        # their headers and libraries reach every consumer.
        self.requires("asio/[>=1.22.1 <2]", transitive_headers=True)
        self.requires("openssl/[>=1.1.1 <4]", transitive_headers=True, transitive_libs=True)
        self.requires("libnghttp2/[>=1.33.0 <2]", transitive_headers=True, transitive_libs=True)
        self.requires("llhttp/[>=8.1.0 <10]", transitive_headers=True, transitive_libs=True)
        if self.options.with_cares:
            # ares_getaddrinfo with TTLs: 1.16 or later.
            self.requires("c-ares/[>=1.16.0 <2]", transitive_headers=True, transitive_libs=True)
        # The decoders' libraries (impl/decoder.ipp includes their headers in header-only mode).
        if self.options.with_zlib:
            self.requires("zlib/[>=1.2.11 <2]", transitive_headers=True, transitive_libs=True)
        if self.options.with_brotli:
            self.requires("brotli/[>=1.0.9 <2]", transitive_headers=True, transitive_libs=True)
        if self.options.with_zstd:
            self.requires("zstd/[>=1.4.0 <2]", transitive_headers=True, transitive_libs=True)

    def package_id(self):
        # The same headers either way; the with_* options only change what package_info asks of consumers.
        self.info.clear()

    def validate(self):
        if self.settings.get_safe("compiler.cppstd"):
            check_min_cppstd(self, 20)

    def source(self):
        pass  # exported with the recipe

    def build(self):
        pass  # header-only

    def package(self):
        copy(self, "LICENSE*", src=self.source_folder, dst=os.path.join(self.package_folder, "licenses"))
        for pattern in ("*.hpp", "*.ipp"):
            copy(self, pattern, src=os.path.join(self.source_folder, "include"),
                 dst=os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.set_property("cmake_file_name", "h2coal")
        self.cpp_info.set_property("cmake_target_name", "h2coal::h2coal")
        self.cpp_info.set_property("pkg_config_name", "h2coal")
        self.cpp_info.defines = ["ASIO_STANDALONE", "ASIO_NO_DEPRECATED"]
        self.cpp_info.requires = [
            "asio::asio",
            "openssl::ssl",
            "openssl::crypto",
            "libnghttp2::nghttp2",
            "llhttp::llhttp",
        ]
        if self.options.with_cares:
            # ConanCenter's c-ares: CMake target c-ares::cares, from its component "cares".
            self.cpp_info.requires.append("c-ares::cares")
            self.cpp_info.defines.append("H2COAL_HAS_CARES=1")
        # ConanCenter's components: zlib::zlib, brotli::brotlidec (its decoder alone), zstd::zstdlib
        # (the shared or static library, whichever the zstd package was built as).
        if self.options.with_zlib:
            self.cpp_info.requires.append("zlib::zlib")
            self.cpp_info.defines.append("H2COAL_HAS_ZLIB=1")
        if self.options.with_brotli:
            self.cpp_info.requires.append("brotli::brotlidec")
            self.cpp_info.defines.append("H2COAL_HAS_BROTLI=1")
        if self.options.with_zstd:
            self.cpp_info.requires.append("zstd::zstdlib")
            self.cpp_info.defines.append("H2COAL_HAS_ZSTD=1")
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
