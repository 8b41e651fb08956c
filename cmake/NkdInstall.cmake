# cmake --install: the headers (<prefix>/include/<lib>/..., engine/config.h included), the static
# libraries, the apps and a CMake package (find_package(nkd); targets nkd::nkd, all of nkd, and one
# per library: nkd::engine, nkd::io, nkd::losses, nkd::layers, nkd::data, nkd::nets, nkd::train).
# The package asks for what this build linked: CUDA, cuDNN and NCCL only for a CUDA build, MPI only
# when the MPI backend was built (NKD_MPI=OFF leaves it out). Included after the libraries exist.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NKD_INSTALL_FOLDERS engine io losses layers data nets train)
set(NKD_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/nkd)

# The library's include folders (build/include/<lib>, build/generated) are the build tree's; the
# installed target's is <prefix>/include.
function(nkd_install_library folder)
  set(target nkd_${folder})
  get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  set(wrapped "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  foreach(dir ${dirs})
    list(APPEND wrapped "$<BUILD_INTERFACE:${dir}>")
  endforeach()
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${wrapped}" EXPORT_NAME ${folder})
  install(TARGETS ${target} EXPORT nkdTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${folder}
          FILES_MATCHING PATTERN "*.h" PATTERN "*.cuh")
endfunction()

foreach(folder ${NKD_INSTALL_FOLDERS})
  if(NOT TARGET nkd_${folder})
    message(STATUS "nkd: no install target (nkd_${folder} is not built: NKD_COMPONENTS)")
    return()
  endif()
endforeach()
foreach(folder ${NKD_INSTALL_FOLDERS})
  nkd_install_library(${folder})
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/generated/engine/config.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/engine)

# nkd_train links nkd_losses whole (its losses register themselves): the same for the installed target.
get_target_property(train_links nkd_train INTERFACE_LINK_LIBRARIES)
list(TRANSFORM train_links REPLACE "^\\$<LINK_LIBRARY:WHOLE_ARCHIVE,nkd_losses>$"
     "$<BUILD_INTERFACE:$<LINK_LIBRARY:WHOLE_ARCHIVE,nkd_losses>>;$<INSTALL_INTERFACE:$<LINK_LIBRARY:WHOLE_ARCHIVE,nkd::losses>>")
set_target_properties(nkd_train PROPERTIES INTERFACE_LINK_LIBRARIES "${train_links}")

add_library(nkd INTERFACE)
target_link_libraries(nkd INTERFACE nkd_train)
install(TARGETS nkd EXPORT nkdTargets)

foreach(app distill eval predict transfer)
  if(TARGET nkd_${app})
    # The build's run path (the MPI library folder) is the installed one: nothing to rewrite.
    set_target_properties(nkd_${app} PROPERTIES BUILD_WITH_INSTALL_RPATH ON INSTALL_RPATH_USE_LINK_PATH ON)
    install(TARGETS nkd_${app} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

install(EXPORT nkdTargets NAMESPACE nkd:: DESTINATION ${NKD_PACKAGE_DIR})
set(NKD_PACKAGE_WITH_CUDA ${NKD_WITH_CUDA})
set(NKD_PACKAGE_WITH_MPI ${NKD_WITH_MPI})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/nkdConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/nkdConfig.cmake INSTALL_DESTINATION ${NKD_PACKAGE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/nkdConfigVersion.cmake VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/nkdConfig.cmake ${PROJECT_BINARY_DIR}/nkdConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindCUDNN.cmake ${PROJECT_SOURCE_DIR}/cmake/FindNCCL.cmake
        DESTINATION ${NKD_PACKAGE_DIR})
