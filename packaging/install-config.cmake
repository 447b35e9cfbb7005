# Install-time script (install(SCRIPT) of packaging/package.cmake): the example configuration
# and the systemd unit, placed by the GNU convention for the prefix in force at install time
# (`cmake --install BUILD --prefix P`, or /usr under CPack):
#   prefix /usr:  /etc/sipws/sipws.json (state_dir /var/lib/sipws), /lib/systemd/system/
#   any other P:  P/etc/sipws/sipws.json (state: the config's folder), P/lib/systemd/system/
# Reads SIPWS_SOURCE_DIR and SIPWS_BUILD_DIR (set by an install(CODE) before it). An existing
# configuration outside a staging install (no DESTDIR) is kept: the new one goes beside it as
# sipws.json.dist.
set(_prefix "${CMAKE_INSTALL_PREFIX}")
if(_prefix STREQUAL "/usr")
  set(_sysconf "/etc")
  set(_unitdir "/lib/systemd/system")
  set(SIPWS_STATE_DIR_LINE "// The store and other state; the service unit sets the same with --set.\n  \"state_dir\": \"/var/lib/sipws\",")
else()
  set(_sysconf "${_prefix}/etc")
  set(_unitdir "${_prefix}/lib/systemd/system")
  set(SIPWS_STATE_DIR_LINE "// \"state_dir\": \"/var/lib/sipws\",  // the service unit sets it with --set")
endif()
set(SIPWS_BIN_DIR "${_prefix}/bin")
set(SIPWS_DOC_DIR "${_prefix}/share/doc/sipws")
set(SIPWS_CONFIG_FILE "${_sysconf}/sipws/sipws.json")

set(_out "${SIPWS_BUILD_DIR}/packaging")
configure_file("${SIPWS_SOURCE_DIR}/packaging/sipws.json.in" "${_out}/sipws.json" @ONLY)
configure_file("${SIPWS_SOURCE_DIR}/packaging/sipws.service.in" "${_out}/sipws.service" @ONLY)

set(_config_dest "${_sysconf}/sipws")
if("$ENV{DESTDIR}" STREQUAL "" AND EXISTS "${_config_dest}/sipws.json")
  message(STATUS "Keeping ${_config_dest}/sipws.json; the new example is sipws.json.dist")
  file(COPY_FILE "${_out}/sipws.json" "${_out}/sipws.json.dist")
  file(INSTALL DESTINATION "${_config_dest}" TYPE FILE FILES "${_out}/sipws.json.dist")
else()
  file(INSTALL DESTINATION "${_config_dest}" TYPE FILE FILES "${_out}/sipws.json")
endif()
file(INSTALL DESTINATION "${_unitdir}" TYPE FILE FILES "${_out}/sipws.service")
