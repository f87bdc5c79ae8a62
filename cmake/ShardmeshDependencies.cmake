# Every dependency comes from a Debian 12 package (scripts/install-deps.sh); nothing is fetched.
include(GNUInstallDirs)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(cppzmq REQUIRED)            # cppzmq-dev, brings libzmq
find_package(msgpack REQUIRED CONFIG)    # libmsgpack-cxx-dev: target msgpackc-cxx
find_package(spdlog REQUIRED)            # libspdlog-dev
find_package(CLI11 REQUIRED)             # libcli11-dev
find_package(tomlplusplus REQUIRED)      # libtomlplusplus-dev
pkg_check_modules(LZ4 REQUIRED IMPORTED_TARGET liblz4)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)  # libcpp-httplib-dev
# Debian builds cpp-httplib split: link libcpp-httplib and take its -DCPPHTTPLIB_*_SUPPORT
# flags with it, since they change the layout of its classes. Target PkgConfig::CPPHTTPLIB.
pkg_check_modules(CPPHTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_package(nlohmann_json REQUIRED)     # nlohmann-json3-dev: manifest and --json output
if(SHARDMESH_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(SHARDMESH_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
