# Fuzz targets: fuzz/<name>_fuzz.cpp, seed corpus fuzz/corpus/<name>/ (see fuzz/README.md).
#
# With -DWORKGATE_FUZZ=ON (clang; the `fuzz` preset) every target is a libFuzzer binary, and every wg_*
# library is instrumented too (coverage feedback, ASan, UBSan with clang's float-cast-overflow), so that
# the fuzzer sees the code it exercises and not only the harness. Otherwise (the g++ presets) each target
# links a replay driver and CTest runs it over its seed corpus (`ctest -L fuzz`).
option(WORKGATE_FUZZ "Build libFuzzer targets and instrument every library for them (needs clang)" OFF)
set(WORKGATE_FUZZ_TARGETS
    http_request wg_http
    connection wg_http
    http2 wg_http
    upstream wg_http
    router wg_router
    config wg_config
    jwt wg_auth
    mapping wg_integrations
    envelope wg_workers)

if(WORKGATE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "WORKGATE_FUZZ needs clang (cmake --preset fuzz)")
  endif()
  # UBSan findings abort (no recovery) so that libFuzzer reports them as crashes with their input.
  set(wg_fuzz_sanitizers -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all)
  # workgate_options is linked by every wg_* library (and wg_asio), so this instruments all of them.
  target_compile_options(workgate_options INTERFACE -fsanitize=fuzzer-no-link ${wg_fuzz_sanitizers}
                         -fno-omit-frame-pointer)
  target_link_options(workgate_options INTERFACE ${wg_fuzz_sanitizers})
  add_custom_target(fuzz_targets)
endif()

list(LENGTH WORKGATE_FUZZ_TARGETS fuzz_count)
math(EXPR fuzz_last "${fuzz_count} - 1")
foreach(i RANGE 0 ${fuzz_last} 2)
  math(EXPR j "${i} + 1")
  list(GET WORKGATE_FUZZ_TARGETS ${i} name)
  list(GET WORKGATE_FUZZ_TARGETS ${j} lib)
  if(WORKGATE_FUZZ)
    add_executable(fuzz_${name} ${PROJECT_SOURCE_DIR}/fuzz/${name}_fuzz.cpp)
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    add_dependencies(fuzz_targets fuzz_${name})
  else()
    add_executable(fuzz_${name} ${PROJECT_SOURCE_DIR}/fuzz/${name}_fuzz.cpp ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
    if(WORKGATE_BUILD_TESTS)
      add_test(NAME fuzz_corpus_${name} COMMAND fuzz_${name} ${PROJECT_SOURCE_DIR}/fuzz/corpus/${name})
      set_tests_properties(fuzz_corpus_${name} PROPERTIES LABELS fuzz)
    endif()
  endif()
  target_link_libraries(fuzz_${name} PRIVATE ${lib})
endforeach()
