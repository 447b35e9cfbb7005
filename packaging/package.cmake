# Install rules and the Debian package (docs/operations.md): `cmake --install BUILD --prefix P`
# gives P/bin/sipws, P/etc/sipws/sipws.json, P/share/sipws/www/{demo-jssip,admin},
# P/share/doc/sipws and P/lib/systemd/system/sipws.service; `cpack -G DEB` (in BUILD) makes
# sipws_VERSION_ARCH.deb of the same files with prefix /usr. Included by CMakeLists.txt.
include(GNUInstallDirs)

install(TARGETS sipws RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET sipws-load)
  install(TARGETS sipws-load RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# Web files: the demo phone (with the JsSIP bundle that www/demo-jssip/build.sh vendors) and the
# web admin. The installed sipws finds them as <exe>/../share/sipws/www/<name>.
set(_www ${CMAKE_INSTALL_DATADIR}/sipws/www)
install(CODE "
  if(NOT EXISTS \"${CMAKE_SOURCE_DIR}/www/demo-jssip/vendor/jssip.min.js\")
    message(FATAL_ERROR \"www/demo-jssip/vendor/jssip.min.js is missing: run www/demo-jssip/build.sh first\")
  endif()")
install(DIRECTORY www/demo-jssip/ DESTINATION ${_www}/demo-jssip
        PATTERN node_modules EXCLUDE PATTERN build.sh EXCLUDE PATTERN "package*.json" EXCLUDE
        PATTERN .gitignore EXCLUDE PATTERN README.md EXCLUDE)
install(DIRECTORY www/admin/ DESTINATION ${_www}/admin OPTIONAL
        PATTERN node_modules EXCLUDE PATTERN "package*.json" EXCLUDE PATTERN .gitignore EXCLUDE)

# Documentation, with the layout README.md links to (docs/, certs/).
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
install(FILES certs/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}/certs)
install(PROGRAMS certs/make-dev-ca.sh DESTINATION ${CMAKE_INSTALL_DOCDIR}/certs)

# The example configuration and the systemd unit: where they go depends on the prefix at install
# time (packaging/install-config.cmake).
install(CODE "set(SIPWS_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
              set(SIPWS_BUILD_DIR \"${CMAKE_BINARY_DIR}\")")
install(SCRIPT packaging/install-config.cmake)

# cpack -G DEB. DESTDIR staging, so that the install script sees the real prefix /usr and puts
# the configuration in /etc and the unit in /lib/systemd/system.
set(CPACK_PACKAGE_NAME sipws)
set(CPACK_PACKAGE_VENDOR sipws)
set(CPACK_PACKAGE_CONTACT "sipws maintainers <sipws@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "SIP-over-WebSocket gateway, SIP proxy/registrar/SBC and WebRTC media bridge")
set(CPACK_PACKAGE_DESCRIPTION
    "sipws is a SIP-over-WebSocket server (RFC 7118) in front of a stateful SIP proxy,
registrar and SBC (RFC 3261), with a WebRTC media bridge (ICE-lite, DTLS-SRTP) between
browsers and plain RTP phones, a demo web phone and a web admin.")
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared libraries by dpkg-shlibdeps; adduser for the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
