# Fuzz targets. With clang and -DWORKGATE_FUZZ=ON they build as libFuzzer binaries; otherwise each one links
# a replay driver and CTest runs it over its seed corpus (fuzz/corpus/<name>/).
option(WORKGATE_FUZZ "Build libFuzzer targets (needs clang)" OFF)
set(WORKGATE_FUZZ_TARGETS
    http_request wg_http
    config wg_config
    jwt wg_auth
    mapping wg_integrations)
list(LENGTH WORKGATE_FUZZ_TARGETS fuzz_count)
math(EXPR fuzz_last "${fuzz_count} - 1")
foreach(i RANGE 0 ${fuzz_last} 2)
  math(EXPR j "${i} + 1")
  list(GET WORKGATE_FUZZ_TARGETS ${i} name)
  list(GET WORKGATE_FUZZ_TARGETS ${j} lib)
  if(WORKGATE_FUZZ)
    add_executable(fuzz_${name} ${PROJECT_SOURCE_DIR}/fuzz/${name}_fuzz.cpp)
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  else()
    add_executable(fuzz_${name} ${PROJECT_SOURCE_DIR}/fuzz/${name}_fuzz.cpp ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
    if(WORKGATE_BUILD_TESTS)
      add_test(NAME fuzz_corpus_${name} COMMAND fuzz_${name} ${PROJECT_SOURCE_DIR}/fuzz/corpus/${name})
      set_tests_properties(fuzz_corpus_${name} PROPERTIES LABELS fuzz)
    endif()
  endif()
  target_link_libraries(fuzz_${name} PRIVATE ${lib})
endforeach()
