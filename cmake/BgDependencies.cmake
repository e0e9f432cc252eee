# Finds the four run-time dependencies (and cmocka for the tests) and gives each an
# imported target. A missing one stops the configuration with the Debian package to install.
find_package(PkgConfig)
if(NOT PkgConfig_FOUND)
  message(FATAL_ERROR "pkg-config not found: install the Debian package pkg-config "
                      "(or run tools/setup.sh, which installs everything)")
endif()

# bg_require_pkg(<module> <debian-package>) -> imported target PkgConfig::<module>
function(bg_require_pkg module debian)
  pkg_check_modules(${module} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${module}_FOUND)
    message(FATAL_ERROR "${module} not found through pkg-config: install the Debian package "
                        "${debian} (or run tools/setup.sh, which installs everything)")
  endif()
  message(STATUS "Found ${module} ${${module}_VERSION}")
endfunction()

bg_require_pkg(libuv libuv1-dev)
bg_require_pkg(sqlite3 libsqlite3-dev)
bg_require_pkg(msgpack libmsgpack-dev)

# Debian's mbedTLS 2.28 ships no pkg-config file.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h)
find_library(MBEDTLS_LIBRARY mbedtls)
find_library(MBEDX509_LIBRARY mbedx509)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto)
if(NOT MBEDTLS_INCLUDE_DIR OR NOT MBEDTLS_LIBRARY OR NOT MBEDX509_LIBRARY OR NOT MBEDCRYPTO_LIBRARY)
  message(FATAL_ERROR "mbedTLS not found: install the Debian package libmbedtls-dev "
                      "(or run tools/setup.sh, which installs everything)")
endif()
file(STRINGS "${MBEDTLS_INCLUDE_DIR}/mbedtls/version.h" _bg_mbed_ver
     REGEX "#define MBEDTLS_VERSION_STRING +\"")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" MBEDTLS_VERSION "${_bg_mbed_ver}")
if(MBEDTLS_VERSION VERSION_LESS 2.28 OR NOT MBEDTLS_VERSION VERSION_LESS 3.0)
  message(FATAL_ERROR "mbedTLS ${MBEDTLS_VERSION} found; bgsync needs the 2.28 series (Debian 12: libmbedtls-dev)")
endif()
message(STATUS "Found mbedTLS ${MBEDTLS_VERSION}")
foreach(_lib mbedcrypto mbedx509 mbedtls)
  string(TOUPPER ${_lib} _up)
  add_library(MbedTLS::${_lib} UNKNOWN IMPORTED GLOBAL)
  set_target_properties(MbedTLS::${_lib} PROPERTIES
    IMPORTED_LOCATION "${${_up}_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${MBEDTLS_INCLUDE_DIR}")
endforeach()
set_property(TARGET MbedTLS::mbedx509 PROPERTY INTERFACE_LINK_LIBRARIES MbedTLS::mbedcrypto)
set_property(TARGET MbedTLS::mbedtls PROPERTY INTERFACE_LINK_LIBRARIES MbedTLS::mbedx509)

if(BG_TESTS)
  bg_require_pkg(cmocka libcmocka-dev)
endif()
