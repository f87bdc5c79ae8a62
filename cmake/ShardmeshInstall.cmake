# Installs the component libraries and a package config, so that users write
#   find_package(shardmesh REQUIRED)
#   target_link_libraries(app PRIVATE shardmesh::loader)
include(CMakePackageConfigHelpers)
get_property(_sm_components GLOBAL PROPERTY SHARDMESH_COMPONENTS)
install(TARGETS ${_sm_components} EXPORT shardmeshTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT shardmeshTargets NAMESPACE shardmesh::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shardmesh)
configure_package_config_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/shardmeshConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/shardmeshConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shardmesh)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/shardmeshConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/shardmeshConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/shardmeshConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shardmesh)
