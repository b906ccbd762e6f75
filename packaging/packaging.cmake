# Installation layout and the Debian package (cmake --install, cpack -G DEB; scripts/package.sh).
include(GNUInstallDirs)

# The binary is stripped when installed (the build tree keeps its debug information).
install(CODE "execute_process(COMMAND ${CMAKE_STRIP} --strip-unneeded \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/workgate\")")

configure_file(${CMAKE_CURRENT_LIST_DIR}/workgate.1 ${CMAKE_BINARY_DIR}/packaging/workgate.1 @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/packaging/workgate.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
install(FILES ${PROJECT_SOURCE_DIR}/schema/api-config.schema.json DESTINATION ${CMAKE_INSTALL_DATADIR}/workgate)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/api-config.json ${PROJECT_SOURCE_DIR}/examples/minimal.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/workgate/examples)
# The unit and the config it serves: with prefix /usr (the package) /lib/systemd/system and /etc/workgate;
# with any other prefix PREFIX/lib/systemd/system and PREFIX/etc/workgate.
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(wg_root \"\")
  else()
    set(wg_root \"\${CMAKE_INSTALL_PREFIX}\")
  endif()
  file(INSTALL \"${CMAKE_CURRENT_LIST_DIR}/workgate.service\" DESTINATION \"\${wg_root}/lib/systemd/system\")
  file(INSTALL \"${CMAKE_CURRENT_LIST_DIR}/api-config.json\" DESTINATION \"\${wg_root}/etc/workgate\")
")

set(CPACK_PACKAGE_NAME workgate)
set(CPACK_PACKAGE_VENDOR "workgate")
set(CPACK_PACKAGE_CONTACT "workgate maintainers <workgate@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # dpkg-shlibdeps: the Debian 12 libraries the binary links
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/workgate/workgate")
# /etc/workgate/api-config.json is a conffile (an edited one survives upgrades).
file(WRITE ${CMAKE_BINARY_DIR}/packaging/conffiles "/etc/workgate/api-config.json\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/packaging/conffiles)
include(CPack)
