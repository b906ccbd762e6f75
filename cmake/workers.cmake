# Worker SDK (headers + the `workgate::sdk` INTERFACE target), the bundled workers (the `sidecar` test
# worker, the examples), the unit-test worker modules and the installed CMake package `workgate`.
# Included from the top-level CMakeLists.txt.

include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

# ---------------------------------------------------------------------------------------------- SDK
add_library(workgate_sdk INTERFACE)
add_library(workgate::sdk ALIAS workgate_sdk)
set_target_properties(workgate_sdk PROPERTIES EXPORT_NAME sdk)
target_include_directories(workgate_sdk INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                                  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(workgate_sdk INTERFACE cxx_std_17)

# The gateway's worker loader uses the ABI header.
target_link_libraries(wg_workers PUBLIC workgate_sdk)

# workgate_add_worker(NAME SOURCES...): a worker module lib<NAME>.so in <build>/workers, only the entry
# point exported. The installed package defines the same function for out-of-tree workers.
set(WORKGATE_WORKERS_OUTPUT_DIR ${CMAKE_BINARY_DIR}/workers)
# workgate_add_worker(NAME [NO_SANITIZE] SOURCES...): NO_SANITIZE keeps the module uninstrumented in the
# asan preset (the crash module: its fault must stay a real SIGSEGV, not a sanitizer report).
function(workgate_add_worker name)
  cmake_parse_arguments(W "NO_SANITIZE" "" "" ${ARGN})
  add_library(${name} MODULE ${W_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE workgate::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${WORKGATE_WORKERS_OUTPUT_DIR})
  target_compile_options(${name} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                         $<$<BOOL:${WORKGATE_WERROR}>:-Werror>)
  if(WORKGATE_SANITIZE AND NOT W_NO_SANITIZE)
    target_compile_options(${name} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${name} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# ---------------------------------------------------------------------------------- bundled workers
# The `sidecar` test worker of the conformance suite (build/<preset>/workers/libworkgate-sidecar.so).
workgate_add_worker(workgate-sidecar ${PROJECT_SOURCE_DIR}/workers/sidecar/sidecar.cpp)

# The examples used by examples/api-config.json.
workgate_add_worker(workgate-example-api-key ${PROJECT_SOURCE_DIR}/examples/workers/api_key.cpp)
workgate_add_worker(workgate-example-orders ${PROJECT_SOURCE_DIR}/examples/workers/orders.cpp)
workgate_add_worker(workgate-example-response-headers ${PROJECT_SOURCE_DIR}/examples/workers/response_headers.cpp)
foreach(example workgate-example-api-key workgate-example-orders workgate-example-response-headers)
  target_link_libraries(${example} PRIVATE Boost::json)
endforeach()

if(TARGET workgate)
  add_dependencies(workgate workgate-sidecar workgate-example-api-key workgate-example-orders
                   workgate-example-response-headers)
endif()

# ------------------------------------------------------------------------------ unit-test modules
if(WORKGATE_BUILD_TESTS AND TARGET workers_tests)
  workgate_add_worker(workgate-test-worker ${PROJECT_SOURCE_DIR}/src/workers/testdata/test_worker.cpp)
  workgate_add_worker(workgate-test-abi-mismatch ${PROJECT_SOURCE_DIR}/src/workers/testdata/abi_mismatch.c)
  workgate_add_worker(workgate-test-no-entry ${PROJECT_SOURCE_DIR}/src/workers/testdata/no_entry.c)
  # Breaks the completion contract and every other rule (tests/e2e/test_workers_hostile.py uses it too).
  workgate_add_worker(workgate-test-hostile ${PROJECT_SOURCE_DIR}/src/workers/testdata/hostile_worker.c)
  # Built against an older, smaller wg_module (its own copy), and one smaller than any version.
  workgate_add_worker(workgate-test-old-abi ${PROJECT_SOURCE_DIR}/src/workers/testdata/old_abi_module.c)
  workgate_add_worker(workgate-test-truncated ${PROJECT_SOURCE_DIR}/src/workers/testdata/old_abi_module.c)
  target_compile_definitions(workgate-test-truncated PRIVATE WG_OLD_ABI_TRUNCATED=1)
  find_package(Threads REQUIRED)
  target_link_libraries(workgate-test-hostile PRIVATE Threads::Threads)
  set_target_properties(workgate-test-worker workgate-test-abi-mismatch workgate-test-no-entry workgate-test-hostile
                        workgate-test-old-abi workgate-test-truncated PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/workers/test)
  add_dependencies(workers_tests workgate-test-worker workgate-test-abi-mismatch workgate-test-no-entry
                   workgate-test-hostile workgate-test-old-abi workgate-test-truncated workgate-sidecar)
  target_compile_definitions(workers_tests PRIVATE
    WG_TEST_WORKER="$<TARGET_FILE:workgate-test-worker>"
    WG_TEST_HOSTILE="$<TARGET_FILE:workgate-test-hostile>"
    WG_TEST_ABI_MISMATCH="$<TARGET_FILE:workgate-test-abi-mismatch>"
    WG_TEST_NO_ENTRY="$<TARGET_FILE:workgate-test-no-entry>"
    WG_TEST_OLD_ABI="$<TARGET_FILE:workgate-test-old-abi>"
    WG_TEST_TRUNCATED="$<TARGET_FILE:workgate-test-truncated>"
    WG_TEST_SIDECAR="$<TARGET_FILE:workgate-sidecar>")
endif()

# Every SDK header compiles on its own: one translation unit per header that includes only it (twice, for
# the include guard), as C++17; <workgate/worker.h> also as C99. Part of the
# default build, so a header that leans on another one's includes breaks the build.
if(WORKGATE_BUILD_TESTS)
  file(GLOB_RECURSE sdk_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/include
       ${PROJECT_SOURCE_DIR}/include/workgate/*.h ${PROJECT_SOURCE_DIR}/include/workgate/*.hpp)
  set(sdk_header_tus)
  foreach(header IN LISTS sdk_headers)
    string(MAKE_C_IDENTIFIER "${header}" tu)
    file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/sdk-headers/${tu}.cpp
         CONTENT "#include <${header}>\n#include <${header}>\n")
    list(APPEND sdk_header_tus ${CMAKE_BINARY_DIR}/sdk-headers/${tu}.cpp)
  endforeach()
  file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/sdk-headers/workgate_worker_h.c
       CONTENT "#include <workgate/worker.h>\n#include <workgate/worker.h>\n")
  add_library(workgate_sdk_headers OBJECT ${sdk_header_tus} ${CMAKE_BINARY_DIR}/sdk-headers/workgate_worker_h.c)
  target_link_libraries(workgate_sdk_headers PRIVATE workgate_sdk)
  set_target_properties(workgate_sdk_headers PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
                                                        C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  # Stricter than the gateway: the headers end up in other people's builds.
  target_compile_options(workgate_sdk_headers PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                         $<$<COMPILE_LANGUAGE:CXX>:-Wold-style-cast -Wzero-as-null-pointer-constant>
                         $<$<BOOL:${WORKGATE_WERROR}>:-Werror>)
endif()

# The crashing service module of the supervisor e2e tests (build/<preset>/workers/test/).
if(WORKGATE_BUILD_TESTS)
  workgate_add_worker(workgate-test-crash NO_SANITIZE ${PROJECT_SOURCE_DIR}/src/workers/testdata/crash_worker.c)
  set_target_properties(workgate-test-crash PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/workers/test)
  if(TARGET workgate)
    add_dependencies(workgate workgate-test-crash)
  endif()
endif()

# ----------------------------------------------------------------------------------------- install
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/workgate DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS workgate_sdk EXPORT workgateTargets)
install(TARGETS workgate-sidecar workgate-example-api-key workgate-example-orders workgate-example-response-headers
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/workgate/workers)
install(EXPORT workgateTargets NAMESPACE workgate:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/workgate)

set(WORKGATE_PACKAGE_DIR ${CMAKE_BINARY_DIR}/cmake/workgate-package)
file(WRITE ${WORKGATE_PACKAGE_DIR}/workgateConfig.cmake.in [=[
# CMake package of the workgate worker SDK: find_package(workgate) gives the INTERFACE target
# workgate::sdk (headers <workgate/worker.h>, the umbrella <workgate/worker.hpp> and its parts under
# <workgate/worker/>) and workgate_add_worker().
@PACKAGE_INIT@

include("${CMAKE_CURRENT_LIST_DIR}/workgateTargets.cmake")
set(workgate_ABI_VERSION @WORKGATE_ABI_VERSION@)

# workgate_add_worker(NAME SOURCES...): a worker module lib<NAME>.so exporting only its entry point.
function(workgate_add_worker name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE workgate::sdk)
  set_target_properties(${name} PROPERTIES PREFIX "lib" CXX_VISIBILITY_PRESET hidden C_VISIBILITY_PRESET hidden
                                           VISIBILITY_INLINES_HIDDEN ON)
endfunction()

check_required_components(workgate)
]=])
file(STRINGS ${PROJECT_SOURCE_DIR}/include/workgate/worker.h abi_line REGEX "^#define WORKGATE_ABI_VERSION ")
string(REGEX MATCH "[0-9]+" WORKGATE_ABI_VERSION "${abi_line}")
configure_package_config_file(${WORKGATE_PACKAGE_DIR}/workgateConfig.cmake.in
                              ${WORKGATE_PACKAGE_DIR}/workgateConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/workgate)
write_basic_package_version_file(${WORKGATE_PACKAGE_DIR}/workgateConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${WORKGATE_PACKAGE_DIR}/workgateConfig.cmake ${WORKGATE_PACKAGE_DIR}/workgateConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/workgate)

# The micro-benchmark of in-process calls (src/workers/workers_benchmark.cpp) uses the sidecar.
if(TARGET workers_benchmark)
  add_dependencies(workers_benchmark workgate-sidecar)
  target_compile_definitions(workers_benchmark PRIVATE WG_BENCH_SIDECAR="$<TARGET_FILE:workgate-sidecar>")
endif()
