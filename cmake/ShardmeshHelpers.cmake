# Compiler warnings and sanitizer flags shared by every shardmesh target.
if(SHARDMESH_SANITIZE)
  string(REPLACE ";" "," _sm_san "${SHARDMESH_SANITIZE}")
  add_compile_options(-fsanitize=${_sm_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_sm_san})
endif()

# shardmesh_component(NAME <name> SOURCES ... PUBLIC_DEPS ... PRIVATE_DEPS ...)
# Defines library shardmesh_<name>, aliased shardmesh::<name>, with public headers in
# <name>/include and internals private to the target.
function(shardmesh_component)
  cmake_parse_arguments(C "" "NAME" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  if(NOT C_SOURCES)
    # A component whose sources have not landed yet is header-only for now.
    add_library(shardmesh_${C_NAME} INTERFACE)
    add_library(shardmesh::${C_NAME} ALIAS shardmesh_${C_NAME})
    set_target_properties(shardmesh_${C_NAME} PROPERTIES EXPORT_NAME ${C_NAME})
    target_include_directories(shardmesh_${C_NAME} INTERFACE
      $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    target_link_libraries(shardmesh_${C_NAME} INTERFACE ${C_PUBLIC_DEPS})
    set_property(GLOBAL APPEND PROPERTY SHARDMESH_COMPONENTS shardmesh_${C_NAME})
    install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
    return()
  endif()
  add_library(shardmesh_${C_NAME} ${C_SOURCES})
  add_library(shardmesh::${C_NAME} ALIAS shardmesh_${C_NAME})
  set_target_properties(shardmesh_${C_NAME} PROPERTIES EXPORT_NAME ${C_NAME}
                        POSITION_INDEPENDENT_CODE ON)
  target_include_directories(shardmesh_${C_NAME}
    PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_features(shardmesh_${C_NAME} PUBLIC cxx_std_20)
  target_compile_options(shardmesh_${C_NAME} PRIVATE -Wall -Wextra -Wpedantic)
  target_link_libraries(shardmesh_${C_NAME} PUBLIC ${C_PUBLIC_DEPS} PRIVATE ${C_PRIVATE_DEPS})
  set_property(GLOBAL APPEND PROPERTY SHARDMESH_COMPONENTS shardmesh_${C_NAME})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# Fuzz builds (clang): instrument every library for coverage; the fuzz targets add the driver.
if(SHARDMESH_BUILD_FUZZERS)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
